"""A memory tier: N DRAM channels (controller + device + checker) behind one AXI4 slave port."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .address_map import DEFAULT_ORDER, AddressMap
from .axi import (
    BURST_INCR,
    RESP_DECERR,
    RESP_OKAY,
    RESP_SLVERR,
    AXI4Signature,
    connect_flat,
    flat_members,
)
from .clock_enable import FractionalClockEnable
from .controller import ChannelController
from .device import DramDevice
from .presets import DramPreset, preset
from .timing_checker import CYCLE_BITS, TimingChecker

__all__ = ["TierConfig", "Tier", "TierTop", "make_tier", "checker_ports"]

ADDR_WIDTH = 34
ID_WIDTH = 4


@dataclass(frozen=True)
class TierConfig:
    """Everything that fixes one tier's RTL. ``rows`` scales capacity (None: the preset's).

    ``clock_enable = (k, n)``: the DRAM clock (controllers, devices, checkers) ticks on
    k of every n fabric cycles, so all DRAM timing is in DRAM cycles while the AXI
    front end runs at the fabric clock. Figures per cycle below are per fabric cycle.
    """

    preset: str = "hbm2"
    channels: int = 4
    rows: int | None = None
    data_bytes: int = 128          # AXI data width in bytes
    order: tuple = DEFAULT_ORDER
    queue_depth: int = 8
    response_depth: int = 16
    rob_beats: int = 64
    starvation_bound: int = 16
    closed_page: bool = False
    clock_enable: tuple = (1, 1)

    @property
    def dram_cycles_per_cycle(self) -> float:
        """DRAM clock / fabric clock."""
        numerator, denominator = self.clock_enable
        return numerator / denominator

    @property
    def cycle_ns(self) -> float:
        """Fabric-cycle time implied by running the DRAM at its preset's tCK."""
        return self.dram.tck_ns * self.dram_cycles_per_cycle

    @property
    def dram(self) -> DramPreset:
        base = preset(self.preset)
        return base if self.rows is None else base.with_rows(self.rows)

    @property
    def address_map(self) -> AddressMap:
        return AddressMap(self.dram, self.channels, self.order)

    @property
    def capacity(self) -> int:
        return self.address_map.capacity

    @property
    def lanes(self) -> int:
        return self.data_bytes // self.dram.atom_bytes

    @property
    def peak_bytes_per_cycle(self) -> float:
        """Data-bus peak of all channels per fabric cycle."""
        return self.dram.peak_bytes_per_cycle * self.channels * self.dram_cycles_per_cycle

    def check(self) -> None:
        p = self.dram
        if self.data_bytes < p.atom_bytes or self.data_bytes % p.atom_bytes:
            raise ValueError(f"AXI width {self.data_bytes} B must be a multiple of the "
                             f"{p.atom_bytes} B atom of {p.name}")
        lanes = self.lanes
        if lanes & (lanes - 1) or lanes > self.channels:
            raise ValueError(f"{lanes} atoms per AXI beat need a power of two <= channels "
                             f"({self.channels})")
        if lanes > 1 and self.order[0] != "channel":
            raise ValueError("with several atoms per AXI beat the channel must be the lowest "
                             f"address field (each atom of a beat goes to its own channel), "
                             f"not {self.order}")
        if self.address_map.address_bits >= ADDR_WIDTH:
            raise ValueError(f"capacity {self.capacity} B does not fit {ADDR_WIDTH}-bit addresses")
        numerator, denominator = self.clock_enable
        if not 1 <= numerator <= denominator:
            raise ValueError(f"clock_enable {numerator}/{denominator}: need 1 <= k <= n")
        if self.rob_beats < 2 or self.rob_beats & (self.rob_beats - 1):
            raise ValueError(f"rob_beats must be a power of two >= 2, not {self.rob_beats}")


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

    def __init__(self, config: TierConfig):
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
    def config(self) -> TierConfig:
        return self._config

    @property
    def axi_signature(self) -> AXI4Signature:
        return self._axi_signature

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        p = cfg.dram
        amap = self._map
        C, K, D = cfg.channels, cfg.lanes, cfg.rob_beats
        atom_bits = p.atom_bytes * 8
        tag_bits = max(1, (D - 1).bit_length())
        beat_shift = (cfg.data_bytes - 1).bit_length()
        axi = self.axi

        m.submodules.dram_clock = dram_clock = FractionalClockEnable(*cfg.clock_enable)
        ce = dram_clock.enable
        m.d.comb += self.dram_enable.eq(ce)
        gated = EnableInserter(ce)

        ctrls, devices, checkers = [], [], []
        for c in range(C):
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
            slice_bits = atom_bits * p.banks
            m.d.comb += [ctrl.rdata_valid.eq(dev.rdata_valid), ctrl.rdata.eq(dev.rdata),
                         dev.pl_en.eq(self.pl_en), dev.pl_index.eq(self.pl_index),
                         dev.pl_data.eq(self.pl_data[c * slice_bits:(c + 1) * slice_bits]),
                         dev.dbg_index.eq(self.dbg_index),
                         self.dbg_rdata[c * slice_bits:(c + 1) * slice_bits].eq(dev.dbg_rdata)]
            ctrls.append(ctrl)
            devices.append(dev)
            checkers.append(chk)

        # ---- request checks ----
        # Full-width INCR bursts, or one narrow beat (size < bus width, len 0); the
        # address must be aligned to the transfer size.
        def classify(addr, length, size, burst):
            end = addr + ((length + 1) << size)
            out_of_range = end > amap.capacity
            misaligned = (addr & ((Const(1, 16) << size) - 1)) != 0
            unsupported = ((burst != BURST_INCR) | (size > beat_shift)
                           | ((size != beat_shift) & (length != 0)) | misaligned)
            return Mux(unsupported, RESP_SLVERR, Mux(out_of_range, RESP_DECERR, RESP_OKAY))

        atom_shift = (p.atom_bytes - 1).bit_length()

        def lane_mask(addr, size):
            """Lanes (atoms of the beat) that a transfer of 2**size bytes at addr touches."""
            if K == 1:
                return Const(1, 1)
            lane = addr[atom_shift:beat_shift]
            span = Mux(size > atom_shift, (size - atom_shift).as_unsigned()[:3], 0)
            return Cat(*((((k ^ lane) >> span) == 0) for k in range(K)))

        errors = Signal(32)
        m.d.comb += self.errors.eq(errors)

        # ---- read address: one burst at a time ----
        ar_busy = Signal()
        ar_addr = Signal(ADDR_WIDTH)
        ar_left = Signal(8)
        ar_id = Signal(ID_WIDTH)
        ar_resp = Signal(2)
        ar_lanes = Signal(K)
        ar_take = axi.arvalid & axi.arready
        ar_class = classify(axi.araddr, axi.arlen, axi.arsize, axi.arburst)

        # ---- write address / data ----
        aw_busy = Signal()
        aw_addr = Signal(ADDR_WIDTH)
        aw_left = Signal(8)
        aw_id = Signal(ID_WIDTH)
        aw_resp = Signal(2)
        aw_lanes = Signal(K)
        aw_take = axi.awvalid & axi.awready
        aw_class = classify(axi.awaddr, axi.awlen, axi.awsize, axi.awburst)
        m.d.sync += errors.eq(errors + (ar_take & (ar_class != RESP_OKAY))
                              + (aw_take & (aw_class != RESP_OKAY)))
        m.submodules.bq = bq = fifo.SyncFIFOBuffered(width=ID_WIDTH + 2, depth=4)
        m.d.comb += [axi.bvalid.eq(bq.r_rdy), axi.bid.eq(bq.r_data[:ID_WIDTH]),
                     axi.bresp.eq(bq.r_data[ID_WIDTH:]), bq.r_en.eq(axi.bready)]

        # ---- reorder buffer ----
        head = Signal(tag_bits + 1)
        tail = Signal(tag_bits + 1)
        rob_full = (tail - head)[:tag_bits + 1] == D
        filled = [Signal(D, name=f"filled{k}") for k in range(K)]
        meta = Memory(shape=ID_WIDTH + 3, depth=D, init=[])  # id, last, resp
        m.submodules.rob_meta = meta
        meta_w = meta.write_port()
        meta_r = meta.read_port(domain="comb")
        lane_mems = []
        for k in range(K):
            mem = Memory(shape=atom_bits, depth=D, init=[])
            m.submodules[f"rob{k}"] = mem
            lane_mems.append((mem.write_port(), mem.read_port(domain="comb")))

        # ---- beat generation: reads and writes take turns when both want the channels ----
        rd_want = ar_busy & ~rob_full
        wr_want = aw_busy & axi.wvalid & bq.w_rdy
        prefer_write = Signal()
        base_channel = Signal(range(C))

        def targets(addr):
            aligned = Cat(Const(0, beat_shift), addr[beat_shift:])
            return amap.field(aligned, "channel") if C > 1 else Const(0, 1)

        rd_base = targets(ar_addr)
        wr_base = targets(aw_addr)
        lanes_ready_rd = Const(1, 1)
        lanes_ready_wr = Const(1, 1)
        ready_vec = Signal(C)
        m.d.comb += ready_vec.eq(Cat(*(ctrl.req.ready & ce for ctrl in ctrls)))
        for k in range(K):
            lanes_ready_rd = lanes_ready_rd & (ready_vec.bit_select(rd_base + k, 1) | ~ar_lanes[k])
            lanes_ready_wr = lanes_ready_wr & (ready_vec.bit_select(wr_base + k, 1) | ~aw_lanes[k])
        rd_ok = rd_want & ((ar_resp != RESP_OKAY) | lanes_ready_rd)
        wr_ok = wr_want & ((aw_resp != RESP_OKAY) | lanes_ready_wr)
        do_rd = Signal()
        do_wr = Signal()
        m.d.comb += [do_rd.eq(rd_ok & (~wr_ok | ~prefer_write)),
                     do_wr.eq(wr_ok & (~rd_ok | prefer_write))]
        with m.If(rd_ok & wr_ok):
            m.d.sync += prefer_write.eq(~prefer_write)
        m.d.comb += base_channel.eq(Mux(do_wr, wr_base, rd_base))
        # narrow transfers carry unaligned addresses: lanes are positions within the beat
        beat_addr = Cat(Const(0, beat_shift), Mux(do_wr, aw_addr, ar_addr)[beat_shift:])
        to_dram = Mux(do_wr, aw_resp == RESP_OKAY, ar_resp == RESP_OKAY) & (do_rd | do_wr)
        slot = tail[:tag_bits]
        for c, ctrl in enumerate(ctrls):
            lane = c % K
            atom_addr = beat_addr + lane * p.atom_bytes
            fields = {name: amap.field(atom_addr, name) for name in
                      ("group", "bank", "row", "column")}
            req = ctrl.req.payload
            flat_bank = Cat(fields["bank"], fields["group"]) if p.banks > 1 else Const(0, 1)
            m.d.comb += [
                ctrl.req.valid.eq(to_dram & ce & (base_channel + lane == c)
                                  & Mux(do_wr, aw_lanes[lane], ar_lanes[lane])),
                req.we.eq(do_wr), req.bank.eq(flat_bank), req.row.eq(fields["row"]),
                req.col.eq(fields["column"]), req.tag.eq(slot),
                req.wdata.eq(axi.wdata[lane * atom_bits:(lane + 1) * atom_bits]),
                req.wmask.eq(axi.wstrb[lane * p.atom_bytes:(lane + 1) * p.atom_bytes]),
            ]
        with m.If(do_rd):
            m.d.sync += [ar_addr.eq(ar_addr + cfg.data_bytes), ar_left.eq(ar_left - 1),
                         tail.eq(tail + 1)]
            with m.If(ar_left == 0):
                m.d.sync += ar_busy.eq(0)
        m.d.comb += [meta_w.addr.eq(slot), meta_w.en.eq(do_rd),
                     meta_w.data.eq(Cat(ar_id, ar_left == 0, ar_resp))]
        m.d.comb += axi.wready.eq(do_wr)
        with m.If(do_wr):
            m.d.sync += [aw_addr.eq(aw_addr + cfg.data_bytes), aw_left.eq(aw_left - 1)]
            with m.If(aw_left == 0):
                m.d.sync += aw_busy.eq(0)
        m.d.comb += [bq.w_en.eq(do_wr & (aw_left == 0)), bq.w_data.eq(Cat(aw_id, aw_resp))]
        # A new burst may start in the cycle the previous one's last beat goes out.
        m.d.comb += [axi.arready.eq(~ar_busy | (do_rd & (ar_left == 0))),
                     axi.awready.eq(~aw_busy | (do_wr & (aw_left == 0)))]
        with m.If(ar_take):
            m.d.sync += [ar_busy.eq(1), ar_addr.eq(axi.araddr), ar_left.eq(axi.arlen),
                         ar_id.eq(axi.arid), ar_resp.eq(ar_class),
                         ar_lanes.eq(lane_mask(axi.araddr, axi.arsize))]
        with m.If(aw_take):
            m.d.sync += [aw_busy.eq(1), aw_addr.eq(axi.awaddr), aw_left.eq(axi.awlen),
                         aw_id.eq(axi.awid), aw_resp.eq(aw_class),
                         aw_lanes.eq(lane_mask(axi.awaddr, axi.awsize))]

        # ---- responses: one per lane per cycle, rotating among the lane's channels ----
        per_lane = C // K
        turn = Signal(range(per_lane)) if per_lane > 1 else None
        if turn is not None:
            m.d.sync += turn.eq(Mux(turn == per_lane - 1, 0, turn + 1))
        head_slot = head[:tag_bits]
        r_fire = axi.rvalid & axi.rready
        for k in range(K):
            chans = [ctrls[c] for c in range(k, C, K)]
            wp, rp = lane_mems[k]
            grant = Signal(range(per_lane), name=f"grant{k}")
            got = Signal(name=f"got{k}")
            # rotate priority: the first ready channel at or after `turn`
            for offset in reversed(range(per_lane)):
                for idx, ctrl in enumerate(chans):
                    if turn is None:
                        cond = ctrl.resp.valid & ce
                    else:
                        cond = ctrl.resp.valid & ce & (turn == (idx - offset) % per_lane)
                    with m.If(cond):
                        m.d.comb += [grant.eq(idx), got.eq(1)]
            tag = Signal(tag_bits, name=f"resp_tag{k}")
            for idx, ctrl in enumerate(chans):
                with m.If(got & (grant == idx)):
                    m.d.comb += [ctrl.resp.ready.eq(1), tag.eq(ctrl.resp.payload.tag),
                                 wp.data.eq(ctrl.resp.payload.data)]
            m.d.comb += [wp.addr.eq(tag), wp.en.eq(got), rp.addr.eq(head_slot)]
            set_bits = Mux(got, 1 << tag, 0)
            # error beats and lanes a narrow read does not touch are complete at once
            err_bits = Mux(do_rd & ((ar_resp != RESP_OKAY) | ~ar_lanes[k]), 1 << slot, 0)
            clear_bits = Mux(r_fire, 1 << head_slot, 0)
            m.d.sync += filled[k].eq((filled[k] & ~clear_bits) | set_bits | err_bits)

        head_ready = Const(1, 1)
        for k in range(K):
            head_ready = head_ready & filled[k].bit_select(head_slot, 1)
        meta_r_data = meta_r.data
        m.d.comb += [meta_r.addr.eq(head_slot),
                     axi.rvalid.eq((head != tail) & head_ready),
                     axi.rid.eq(meta_r_data[:ID_WIDTH]),
                     axi.rlast.eq(meta_r_data[ID_WIDTH]),
                     axi.rresp.eq(meta_r_data[ID_WIDTH + 1:]),
                     axi.rdata.eq(Mux(meta_r_data[ID_WIDTH + 1:] == RESP_OKAY,
                                      Cat(*(lane_mems[k][1].data for k in range(K))), 0))]
        with m.If(r_fire):
            m.d.sync += head.eq(head + 1)

        # ---- observation: the lowest-numbered channel that saw a violation ----
        for c in reversed(range(C)):
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
        return m


class TierTop(wiring.Component):
    """One tier with flat ``s_axi_*`` ports (cocotbext-axi naming) and observation ports."""

    def __init__(self, config: TierConfig, prefix: str = "s_axi"):
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
    return TierTop(TierConfig(preset=preset, channels=channels, **options))
