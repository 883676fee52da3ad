"""A memory tier: N DRAM channels (controller + device + checker) behind one AXI4 slave port."""

from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import (
    RESP_OKAY,
    AXI4Signature,
    connect_flat,
    flat_members,
)

from .burst_tracker import BurstTracker
from .clock_enable import FractionalClockEnable
from .controller import ChannelController
from .device import DramDevice
from .reorder_buffer import ReorderBuffer
from .tier_params import ADDR_WIDTH, TierParams
from .timing_checker import CYCLE_BITS, TimingChecker

__all__ = ["Tier", "TierTop", "make_tier", "checker_ports"]

ID_WIDTH = 4


def checker_ports() -> dict:
    """Per-tier observation ports (name -> width), exported with a prefix by top levels."""
    return {"chk_violation": 1, "chk_channel": 4, "chk_rule": 6, "chk_cmd_a": 3, "chk_cmd_b": 3,
            "chk_cycle_a": CYCLE_BITS, "chk_cycle_b": CYCLE_BITS, "chk_bank_a": 6,
            "chk_bank_b": 6, "chk_commands": 40, "refreshes": 40, "acts": 40, "col_cmds": 40,
            "errors": 32}


class Tier(wiring.Component):
    """N channels behind an AXI4 slave (``axi``), in-order responses.

    Front end: one AR and one AW burst at a time, INCR bursts of full-width beats
    only. Each beat splits into ``lanes`` atoms that go to ``lanes`` different
    channels in the same cycle; reads come back in any order into a reorder buffer
    of ``rob_beats`` beats and leave in request order. Writes are posted: B is sent
    once every atom of the burst is in a controller queue (the queues never let a
    later read pass an earlier write to the same atom). Bad requests (address out of
    range: DECERR; burst type, size or alignment unsupported: SLVERR) touch no DRAM,
    answer with an error response and count in ``errors``.

    ``pl_*``/``dbg_*`` reach every device's backdoor (preload and dump).
    ``dram_enable`` is high in the fabric cycles in which the DRAM clock ticks
    (always, unless ``config.clock_enable`` slows it): a request enters a channel
    queue and a response leaves it only in such a cycle.
    """

    #: cycles the tier adds to a read beyond the DRAM's own ACT/RD/data timing: AR register
    #: (1) and queue entry (1) before the first command; response FIFO (2) and reorder
    #: buffer (1) after the device returns the burst. With ``clock_enable`` < 1 the queue
    #: entry and response FIFO count DRAM cycles, the AR register and buffer fabric cycles.
    PIPELINE_CYCLES = 5

    def __init__(self, config: TierParams):
        config.check()
        self._config = config
        p = config.dram
        self._map = config.address_map
        index_bits = max(1, (p.rows * p.atoms_per_row - 1).bit_length())
        self._axi_signature = AXI4Signature(addr_width=ADDR_WIDTH,
                                            data_width=config.data_bytes * 8, id_width=ID_WIDTH)
        members = {
            "axi": In(self._axi_signature),
            "pl_en": In(1),
            "pl_index": In(index_bits),
            "pl_data": In(p.atom_bytes * 8 * p.banks * config.channels),
            "dbg_index": In(index_bits),
            "dbg_rdata": Out(p.atom_bytes * 8 * p.banks * config.channels),
            "dram_enable": Out(1),
        }
        members.update({name: Out(width) for name, width in checker_ports().items()})
        super().__init__(members)

    @property
    def config(self) -> TierParams:
        return self._config

    @property
    def axi_signature(self) -> AXI4Signature:
        return self._axi_signature

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        p = cfg.dram
        axi = self.axi

        m.submodules.dram_clock = dram_clock = FractionalClockEnable(*cfg.clock_enable)
        ce = dram_clock.enable
        m.d.comb += self.dram_enable.eq(ce)
        ctrls, checkers = self._channels(m, ce)

        bursts = {}
        for prefix in ("ar", "aw"):
            bursts[prefix] = burst = BurstTracker(
                capacity=self._map.capacity, beat_bytes=cfg.data_bytes, atom_bytes=p.atom_bytes,
                addr_width=ADDR_WIDTH, id_width=ID_WIDTH)
            m.submodules[prefix] = burst
            m.d.comb += getattr(axi, f"{prefix}ready").eq(burst.request.ready)
            for field in ("valid", "addr", "len", "size", "burst", "id"):
                m.d.comb += getattr(burst.request, field).eq(getattr(axi, prefix + field))
        ar, aw = bursts["ar"], bursts["aw"]
        errors = Signal(32)
        m.d.comb += self.errors.eq(errors)
        m.d.sync += errors.eq(errors + ar.rejected + aw.rejected)

        # write responses: one per burst, once its last beat is in a controller queue
        m.submodules.bq = bq = fifo.SyncFIFOBuffered(width=ID_WIDTH + 2, depth=4)
        m.d.comb += [axi.bvalid.eq(bq.r_rdy), axi.bid.eq(bq.r_data[:ID_WIDTH]),
                     axi.bresp.eq(bq.r_data[ID_WIDTH:]), bq.r_en.eq(axi.bready)]
        m.submodules.rob = rob = ReorderBuffer(
            lanes=cfg.lanes, depth=cfg.rob_beats, atom_bits=p.atom_bytes * 8, id_width=ID_WIDTH)
        for field in ("rvalid", "rid", "rlast", "rresp", "rdata"):
            m.d.comb += getattr(axi, field).eq(getattr(rob, field))
        m.d.comb += rob.rready.eq(axi.rready)

        do_rd, do_wr = self._take_turns(m, ctrls, ce, ar, aw, rob.full,
                                        axi.wvalid & bq.w_rdy)
        self._channel_requests(m, ctrls, ce, ar, aw, do_rd, do_wr, rob.slot)
        m.d.comb += [ar.step.eq(do_rd), aw.step.eq(do_wr), axi.wready.eq(do_wr),
                     rob.alloc.eq(do_rd), rob.alloc_id.eq(ar.id), rob.alloc_last.eq(ar.last),
                     rob.alloc_resp.eq(ar.resp),
                     rob.alloc_done.eq(Cat(*((ar.resp != RESP_OKAY) | ~ar.lanes[k]
                                             for k in range(cfg.lanes)))),
                     bq.w_en.eq(do_wr & aw.last), bq.w_data.eq(Cat(aw.id, aw.resp))]
        self._collect_responses(m, ctrls, ce, rob)
        self._observe(m, ctrls, checkers)
        return m

    def _channels(self, m, ce):
        """Controller, device and timing checker of every channel; the controllers and
        checkers run on the DRAM clock (``ce``)."""
        cfg = self._config
        p = cfg.dram
        tag_bits = max(1, (cfg.rob_beats - 1).bit_length())
        slice_bits = p.atom_bytes * 8 * p.banks
        gated = EnableInserter(ce)
        ctrls, checkers = [], []
        for c in range(cfg.channels):
            ctrl = ChannelController(p, tag_bits=tag_bits, queue_depth=cfg.queue_depth,
                                     response_depth=cfg.response_depth,
                                     starvation_bound=cfg.starvation_bound,
                                     closed_page=cfg.closed_page)
            dev = DramDevice(p)
            chk = TimingChecker(p)
            m.submodules[f"ctrl{c}"] = gated(ctrl)
            m.submodules[f"dev{c}"] = dev  # gates itself: its backdoor runs every cycle
            m.submodules[f"chk{c}"] = gated(chk)
            wiring.connect(m, ctrl.bus, dev.bus)
            m.d.comb += dev.enable.eq(ce)
            for name in ("cmd", "bank", "row", "col"):
                m.d.comb += getattr(chk.bus, name).eq(getattr(ctrl.bus, name))
            m.d.comb += [ctrl.rdata_valid.eq(dev.rdata_valid), ctrl.rdata.eq(dev.rdata),
                         dev.pl_en.eq(self.pl_en), dev.pl_index.eq(self.pl_index),
                         dev.pl_data.eq(self.pl_data[c * slice_bits:(c + 1) * slice_bits]),
                         dev.dbg_index.eq(self.dbg_index),
                         self.dbg_rdata[c * slice_bits:(c + 1) * slice_bits].eq(dev.dbg_rdata)]
            ctrls.append(ctrl)
            checkers.append(chk)
        return ctrls, checkers

    def _beat_base(self, addr):
        """The channel of the first atom of the beat at ``addr``."""
        cfg = self._config
        if cfg.channels == 1:
            return Const(0, 1)
        beat_shift = (cfg.data_bytes - 1).bit_length()
        return self._map.field(Cat(Const(0, beat_shift), addr[beat_shift:]), "channel")

    def _take_turns(self, m, ctrls, ce, ar, aw, rob_full, write_data):
        """``(do_rd, do_wr)``: whether a read or a write beat goes out in this cycle. Each
        needs its lanes' channel queues ready (error beats need none); reads and writes
        take turns when both can go."""
        ready = Signal(len(ctrls))
        m.d.comb += ready.eq(Cat(*(ctrl.req.ready & ce for ctrl in ctrls)))
        ok = {}
        for name, burst, want in (("rd", ar, ar.busy & ~rob_full),
                                  ("wr", aw, aw.busy & write_data)):
            base = self._beat_base(burst.addr)
            lanes_ready = Const(1, 1)
            for k in range(self._config.lanes):
                lanes_ready = lanes_ready & (ready.bit_select(base + k, 1) | ~burst.lanes[k])
            ok[name] = want & ((burst.resp != RESP_OKAY) | lanes_ready)
        prefer_write = Signal()
        do_rd = Signal()
        do_wr = Signal()
        m.d.comb += [do_rd.eq(ok["rd"] & (~ok["wr"] | ~prefer_write)),
                     do_wr.eq(ok["wr"] & (~ok["rd"] | prefer_write))]
        with m.If(ok["rd"] & ok["wr"]):
            m.d.sync += prefer_write.eq(~prefer_write)
        return do_rd, do_wr

    def _channel_requests(self, m, ctrls, ce, ar, aw, do_rd, do_wr, slot):
        """One atom request per lane of the beat going out, each to its own channel."""
        cfg = self._config
        p = cfg.dram
        K = cfg.lanes
        atom_bits = p.atom_bytes * 8
        beat_shift = (cfg.data_bytes - 1).bit_length()
        # at least one bit: a zero-width signal would be emitted as an ascending [-1:0] range
        base_channel = Signal(range(max(cfg.channels, 2)))
        m.d.comb += base_channel.eq(Mux(do_wr, self._beat_base(aw.addr),
                                        self._beat_base(ar.addr)))
        # narrow transfers carry unaligned addresses: lanes are positions within the beat
        beat_addr = Cat(Const(0, beat_shift), Mux(do_wr, aw.addr, ar.addr)[beat_shift:])
        to_dram = Mux(do_wr, aw.resp == RESP_OKAY, ar.resp == RESP_OKAY) & (do_rd | do_wr)
        for c, ctrl in enumerate(ctrls):
            lane = c % K
            atom_addr = beat_addr + lane * p.atom_bytes
            fields = {name: self._map.field(atom_addr, name) for name in
                      ("group", "bank", "row", "column")}
            req = ctrl.req.payload
            flat_bank = Cat(fields["bank"], fields["group"]) if p.banks > 1 else Const(0, 1)
            m.d.comb += [
                ctrl.req.valid.eq(to_dram & ce & (base_channel + lane == c)
                                  & Mux(do_wr, aw.lanes[lane], ar.lanes[lane])),
                req.we.eq(do_wr), req.bank.eq(flat_bank), req.row.eq(fields["row"]),
                req.col.eq(fields["column"]), req.tag.eq(slot),
                req.wdata.eq(self.axi.wdata[lane * atom_bits:(lane + 1) * atom_bits]),
                req.wmask.eq(self.axi.wstrb[lane * p.atom_bytes:(lane + 1) * p.atom_bytes]),
            ]

    def _collect_responses(self, m, ctrls, ce, rob):
        """Read atoms into the reorder buffer: one per lane per cycle, rotating among the
        lane's channels."""
        C, K = self._config.channels, self._config.lanes
        per_lane = C // K
        turn = Signal(range(per_lane)) if per_lane > 1 else None
        if turn is not None:
            m.d.sync += turn.eq(Mux(turn == per_lane - 1, 0, turn + 1))
        for k in range(K):
            chans = [ctrls[c] for c in range(k, C, K)]
            fill = rob.fill[k]
            grant = Signal(range(max(per_lane, 2)), name=f"grant{k}")  # see base_channel
            # rotate priority: the first ready channel at or after `turn`
            for offset in reversed(range(per_lane)):
                for idx, ctrl in enumerate(chans):
                    if turn is None:
                        cond = ctrl.resp.valid & ce
                    else:
                        cond = ctrl.resp.valid & ce & (turn == (idx - offset) % per_lane)
                    with m.If(cond):
                        m.d.comb += [grant.eq(idx), fill.valid.eq(1)]
            for idx, ctrl in enumerate(chans):
                with m.If(fill.valid & (grant == idx)):
                    m.d.comb += [ctrl.resp.ready.eq(1), fill.tag.eq(ctrl.resp.payload.tag),
                                 fill.data.eq(ctrl.resp.payload.data)]

    def _observe(self, m, ctrls, checkers):
        """Checker results of the lowest-numbered channel that saw a violation; totals."""
        for c in reversed(range(len(checkers))):
            chk = checkers[c]
            with m.If(chk.violation):
                m.d.comb += [self.chk_violation.eq(1), self.chk_channel.eq(c),
                             self.chk_rule.eq(chk.rule), self.chk_cmd_a.eq(chk.cmd_a),
                             self.chk_cmd_b.eq(chk.cmd_b), self.chk_cycle_a.eq(chk.cycle_a),
                             self.chk_cycle_b.eq(chk.cycle_b), self.chk_bank_a.eq(chk.bank_a),
                             self.chk_bank_b.eq(chk.bank_b)]
        m.d.comb += [
            self.chk_commands.eq(sum(chk.commands for chk in checkers)),
            self.refreshes.eq(sum(chk.refreshes for chk in checkers)),
            self.acts.eq(sum(ctrl.acts for ctrl in ctrls)),
            self.col_cmds.eq(sum(ctrl.col_cmds for ctrl in ctrls)),
        ]


class TierTop(wiring.Component):
    """One tier with flat ``s_axi_*`` ports (cocotbext-axi naming) and observation ports."""

    def __init__(self, config: TierParams, prefix: str = "s_axi"):
        self._tier = Tier(config)
        self._prefix = prefix
        members = flat_members(prefix, self._tier.axi_signature)
        for name, member in self._tier.signature.members.items():
            if name != "axi":
                members[name] = member
        super().__init__(members)

    @property
    def tier(self) -> Tier:
        return self._tier

    def elaborate(self, platform):
        m = Module()
        m.submodules.tier = tier = self._tier
        connect_flat(m, self, self._prefix, tier.axi)
        for name, member in tier.signature.members.items():
            if name == "axi":
                continue
            if member.flow == In:
                m.d.comb += getattr(tier, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(tier, name))
        return m


def make_tier(preset: str = "hbm2", channels: int = 4, **options) -> TierTop:
    """``Design`` factory: ``memory_ctrl.tier:make_tier(preset="hbm2", channels=4, rows=8)``."""
    for name in ("order", "clock_enable"):  # JSON parameters arrive as lists
        if name in options:
            options[name] = tuple(options[name])
    return TierTop(TierParams(preset=preset, channels=channels, **options))
