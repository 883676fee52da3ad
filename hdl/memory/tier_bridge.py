"""AXI4 interconnect from several masters to address regions on wider AXI4 slaves
(the memory tiers), one master beat per single-beat slave transaction."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import (
    BURST_INCR,
    RESP_OKAY,
    AXI4Signature,
)

from .burst_decoder import BurstDecoder
from .round_robin import round_robin

__all__ = ["Region", "TierBridge"]


@dataclass(frozen=True)
class Region:
    """``size`` bytes at master address ``base`` on a slave port ``name`` whose data beat is
    ``data_bytes`` wide; slave address = master address - ``base``."""

    name: str
    base: int
    size: int
    data_bytes: int


class TierBridge(wiring.Component):
    """``ports`` AXI4 slave interfaces ``s0 ..`` (``data_width`` bits) onto one AXI4 master
    port per :class:`Region` (named by the region, ``slave_addr_width``-bit addresses).

    Each master beat becomes one single-beat INCR transaction of the master's bus
    width on the region's wider bus (an AXI narrow transfer: write data replicated
    over the beat, WSTRB moved to the beat's byte lanes; read data taken from them).

    Reads and writes run independently. Reads: an AR is taken round-robin over the
    ports whenever the issuer is free and fewer than ``read_bursts`` read bursts are
    outstanding; the issuer sends one slave AR per beat, and R beats go back in the
    order the bursts were taken (every port, every ID), so a new burst's DRAM
    latency overlaps the previous one's data. Writes: one burst at a time, AW taken
    round-robin over the ports, one slave AW + W per beat, one B after every slave B
    of the burst with the first error response among them. A burst outside every
    region answers DECERR (reads return zero, writes change nothing), WRAP bursts
    and sizes wider than the bus SLVERR, without reaching a slave. Slave IDs are 0;
    the master's ID returns.

    ``hold`` stops new bursts from being taken; ``idle`` is high when no burst is in
    progress (every response delivered), so with ``hold`` and ``idle`` high no master
    transaction touches a slave.
    """

    def __init__(self, regions: list[Region], data_width: int, *, ports: int = 2,
                 addr_width: int = 32, id_width: int = 4, slave_addr_width: int = 34,
                 read_bursts: int = 4):
        beat_bytes = data_width // 8
        names = [region.name for region in regions]
        if not regions or len(set(names)) != len(names):
            raise ValueError(f"regions need distinct names, not {names}")
        spans = sorted((region.base, region.base + region.size) for region in regions)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise ValueError(f"regions overlap: {regions}")
        for region in regions:
            if region.data_bytes < beat_bytes or region.data_bytes % beat_bytes:
                raise ValueError(f"region {region.name}: its {region.data_bytes}-byte beat must "
                                 f"be a multiple of the {beat_bytes}-byte master beat")
            if region.base + region.size > 1 << addr_width or region.size <= 0:
                raise ValueError(f"region {region.name} does not fit {addr_width}-bit addresses")
            if region.size > 1 << slave_addr_width:
                raise ValueError(f"region {region.name} does not fit {slave_addr_width}-bit "
                                 f"slave addresses")
        if ports < 1:
            raise ValueError("a bridge needs at least one master port")
        if read_bursts < 1:
            raise ValueError(f"read_bursts must be at least 1, not {read_bursts}")
        self.read_bursts = read_bursts
        self.regions, self.data_width, self.ports = list(regions), data_width, ports
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        self.slave_signatures = {
            region.name: AXI4Signature(addr_width=slave_addr_width,
                                       data_width=region.data_bytes * 8, id_width=id_width)
            for region in regions}
        members = {f"s{p}": In(self.axi_signature) for p in range(ports)}
        members.update({name: Out(sig) for name, sig in self.slave_signatures.items()})
        members.update({"hold": In(1), "idle": Out(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        sig = self.axi_signature
        ports = [getattr(self, f"s{p}") for p in range(self.ports)]
        slaves = _Slaves([getattr(self, region.name) for region in self.regions])
        bursts = {}
        for name in ("rd", "wr"):
            bursts[name] = BurstDecoder(self.regions, beat_bytes=self.data_width // 8,
                                        ports=self.ports, addr_width=sig.addr_width,
                                        id_width=sig.id_width)
            m.submodules[f"{name}_burst"] = bursts[name]
        w_addr = Signal(sig.addr_width)          # slave address of the next W beat
        self._slave_requests(m, ports, bursts["rd"], bursts["wr"], w_addr)
        reads_idle = self._reads(m, ports, slaves, bursts["rd"])
        writes_idle = self._writes(m, ports, slaves, bursts["wr"], w_addr)
        m.d.comb += self.idle.eq(writes_idle & reads_idle)
        return m

    def _beat_address(self, address):
        shift = (self.data_width // 8 - 1).bit_length()
        return Cat(Const(0, shift), address[shift:])

    def _lane(self, address, region):
        """Which master-width slice of the region's beat ``address`` falls in."""
        beat_bytes = self.data_width // 8
        shift = (beat_bytes - 1).bit_length()
        ratio_bits = (region.data_bytes // beat_bytes - 1).bit_length()
        return address[shift:shift + ratio_bits] if ratio_bits else Const(0, 1)

    @staticmethod
    def _take(m, prefix, ports, grant, burst):
        """Take the burst on port ``grant``'s ``prefix`` ("ar"/"aw") channel into ``burst``."""
        m.d.comb += [burst.load.eq(1), burst.request.port.eq(grant)]
        for p, port in enumerate(ports):
            with m.If(grant == p):
                m.d.comb += getattr(port, prefix + "ready").eq(1)
                for field in ("id", "addr", "len", "size", "burst"):
                    m.d.comb += getattr(burst.request, field).eq(getattr(port, prefix + field))

    def _slave_requests(self, m, ports, rd, wr, w_addr):
        """Slave request fields other than the valids: reads from the read issuer, writes
        from the write path; write data replicated over the slave's beat."""
        beat_bytes = self.data_width // 8
        shift = (beat_bytes - 1).bit_length()
        wdata = Signal(self.data_width)
        wstrb = Signal(beat_bytes)
        for p, port in enumerate(ports):
            with m.If(wr.port == p):
                m.d.comb += [wdata.eq(port.wdata), wstrb.eq(port.wstrb)]
        for region in self.regions:
            slave = getattr(self, region.name)
            m.d.comb += [
                slave.arid.eq(0), slave.araddr.eq(self._beat_address(rd.addr)),
                slave.arlen.eq(0), slave.arsize.eq(shift), slave.arburst.eq(BURST_INCR),
                slave.awid.eq(0), slave.awaddr.eq(self._beat_address(wr.addr)),
                slave.awlen.eq(0), slave.awsize.eq(shift), slave.awburst.eq(BURST_INCR),
                slave.wlast.eq(1),
                slave.wdata.eq(Cat(*([wdata] * (region.data_bytes // beat_bytes)))),
                slave.wstrb.eq(wstrb << (self._lane(w_addr, region) * beat_bytes)),
            ]

    def _reads(self, m, ports, slaves, rd):
        """Reads: bursts taken in order into a queue, issued beat by beat, returned in queue
        order. Returns a signal high while no read burst is outstanding."""
        sig = self.axi_signature
        entry = data.StructLayout({"port": range(self.ports), "id": sig.id_width,
                                   "target": range(len(self.regions)), "resp": 2,
                                   "addr": sig.addr_width,
                                   "increment": range(self.data_width // 8 + 1), "beats": 9})
        m.submodules.read_queue = queue = fifo.SyncFIFOBuffered(
            width=entry.size, depth=self.read_bursts)
        outstanding = Signal(range(self.read_bursts + 1))   # read bursts taken, not returned
        rd_left = Signal(9)                                  # ARs the issuer still sends
        rd_last = Signal(range(self.ports))
        taken = Signal()
        returned = Signal()
        m.d.sync += outstanding.eq(outstanding + taken - returned)
        rd_free = (rd_left == 0) & (outstanding < self.read_bursts) & ~self.hold
        rd_any, rd_grant = round_robin(m, [port.arvalid for port in ports], rd_last,
                                       name="tier_bridge_ar")
        with m.If(rd_free & rd_any):
            m.d.comb += taken.eq(1)
            m.d.sync += [rd_last.eq(rd_grant), rd_left.eq(rd.request.len + 1)]
            self._take(m, "ar", ports, rd_grant, rd)
        # the burst enters the queue the cycle after it was taken (its registers set)
        enqueue = Signal()
        m.d.sync += enqueue.eq(taken)
        pushed = Signal(entry)
        m.d.comb += [pushed.port.eq(rd.port), pushed.id.eq(rd.id), pushed.target.eq(rd.target),
                     pushed.resp.eq(rd.resp), pushed.addr.eq(rd.addr),
                     pushed.increment.eq(rd.increment), pushed.beats.eq(rd.beats),
                     queue.w_data.eq(pushed), queue.w_en.eq(enqueue)]
        # issue: one slave AR per beat (none for a burst answered here)
        issuing = (rd_left != 0) & ~enqueue
        with m.If(issuing & (rd.resp != RESP_OKAY)):
            m.d.sync += rd_left.eq(0)
        slaves.drive(m, rd.target, "arvalid", issuing & (rd.resp == RESP_OKAY))
        with m.If(slaves.get(rd.target, "arvalid") & slaves.get(rd.target, "arready")):
            m.d.comb += rd.step.eq(1)
            m.d.sync += rd_left.eq(rd_left - 1)
        head = Signal(entry)
        m.d.comb += head.eq(queue.r_data)
        with m.If(self._return_reads(m, ports, slaves, head, queue.r_rdy)):
            m.d.comb += [queue.r_en.eq(1), returned.eq(1)]
        return outstanding == 0

    def _return_reads(self, m, ports, slaves, head, head_valid):
        """Return the beats of the ``head`` burst to its port, from its slave or answered
        here. Returns a signal high when its last beat goes."""
        ret_beats = Signal(9)         # beats of the head burst already returned
        ret_offset = Signal(self.axi_signature.addr_width)
        from_slave = head.resp == RESP_OKAY
        rvalid = head_valid & Mux(from_slave, slaves.get(head.target, "rvalid"), 1)
        rready = Signal()
        beat_at = head.addr + ret_offset
        piece = 0
        for index, region in enumerate(self.regions):
            slave = getattr(self, region.name)
            ratio = region.data_bytes // (self.data_width // 8)
            sliced = (slave.rdata.word_select(self._lane(beat_at, region), self.data_width)
                      if ratio > 1 else slave.rdata)
            piece = Mux(head.target == index, sliced, piece)
        last_beat = ret_beats + 1 == head.beats
        rresp = slaves.get(head.target, "rresp")
        for p, port in enumerate(ports):
            with m.If(head.port == p):
                m.d.comb += [
                    rready.eq(port.rready), port.rvalid.eq(rvalid),
                    port.rdata.eq(Mux(from_slave & (rresp == RESP_OKAY), piece, 0)),
                    port.rresp.eq(Mux(from_slave, rresp, head.resp)),
                    port.rid.eq(head.id), port.rlast.eq(last_beat),
                ]
        slaves.drive(m, head.target, "rready", head_valid & from_slave & rready)
        done = Signal()
        with m.If(rvalid & rready):
            with m.If(last_beat):
                m.d.comb += done.eq(1)
                m.d.sync += [ret_beats.eq(0), ret_offset.eq(0)]
            with m.Else():
                m.d.sync += [ret_beats.eq(ret_beats + 1),
                             ret_offset.eq(ret_offset + head.increment)]
        return done

    def _writes(self, m, ports, slaves, wr, w_addr):
        """Writes: one burst at a time. Returns a signal high while none is in progress."""
        w_left = Signal(9)             # W beats still to take
        b_left = Signal(9)             # slave B responses still due
        aw_left = Signal(9)            # slave AWs still to send
        b_resp = Signal(2)
        wr_last = Signal(range(self.ports))
        write_idle = Signal()
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += write_idle.eq(1)
                wr_any, wr_grant = round_robin(m, [port.awvalid for port in ports], wr_last,
                                               name="tier_bridge_aw")
                with m.If(wr_any & ~self.hold):
                    beats = wr.request.len + 1
                    m.d.sync += [wr_last.eq(wr_grant), b_resp.eq(RESP_OKAY),
                                 aw_left.eq(beats), w_left.eq(beats), b_left.eq(beats)]
                    self._take(m, "aw", ports, wr_grant, wr)
                    m.next = "SETUP"

            with m.State("SETUP"):
                # the decoded address becomes the first W beat's address too
                m.d.sync += w_addr.eq(wr.addr)
                m.next = "WRITE"

            with m.State("WRITE"):
                to_slave = wr.resp == RESP_OKAY
                target = wr.target
                slaves.drive(m, target, "awvalid", to_slave & (aw_left != 0))
                with m.If(slaves.get(target, "awvalid") & slaves.get(target, "awready")):
                    m.d.comb += wr.step.eq(1)
                    m.d.sync += aw_left.eq(aw_left - 1)
                wvalid = Signal()
                wready = Mux(to_slave, slaves.get(target, "wready"), 1)
                for p, port in enumerate(ports):
                    with m.If(wr.port == p):
                        m.d.comb += [wvalid.eq(port.wvalid & (w_left != 0)),
                                     port.wready.eq(wready & (w_left != 0))]
                slaves.drive(m, target, "wvalid", to_slave & wvalid)
                w_fire = wvalid & wready
                with m.If(w_fire):
                    m.d.sync += [w_addr.eq(w_addr + wr.increment), w_left.eq(w_left - 1)]
                slaves.drive(m, target, "bready", to_slave)
                bresp = slaves.get(target, "bresp")
                with m.If(to_slave & slaves.get(target, "bvalid")):
                    m.d.sync += b_left.eq(b_left - 1)
                    with m.If((b_resp == RESP_OKAY) & (bresp != RESP_OKAY)):
                        m.d.sync += b_resp.eq(bresp)
                    with m.If(b_left == 1):
                        m.next = "RESPOND"
                with m.If(~to_slave & w_fire & (w_left == 1)):
                    m.d.sync += b_resp.eq(wr.resp)
                    m.next = "RESPOND"

            with m.State("RESPOND"):
                for p, port in enumerate(ports):
                    with m.If(wr.port == p):
                        m.d.comb += [port.bvalid.eq(1), port.bid.eq(wr.id),
                                     port.bresp.eq(b_resp)]
                        with m.If(port.bready):
                            m.next = "IDLE"
        return write_idle


class _Slaves:
    """The bridge's slave ports, addressed by region index (``target``)."""

    def __init__(self, slaves):
        self._slaves = slaves

    def get(self, target, field):
        """``field`` of the slave ``target`` selects (a response signal)."""
        value = 0
        for index, slave in enumerate(self._slaves):
            value = Mux(target == index, getattr(slave, field), value)
        return value

    def drive(self, m, target, field, value):
        """``value`` on ``field`` of the slave ``target`` selects, 0 on the others."""
        for index, slave in enumerate(self._slaves):
            m.d.comb += getattr(slave, field).eq(Mux(target == index, value, 0))
