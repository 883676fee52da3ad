"""A DRAM channel model for simulation: executes ACT/PRE/RD/WR/REF and stores data."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .presets import DramPreset
from .timing_rules import Cmd
from .uninit_memory import uninitialized_memory

__all__ = ["CommandSignature", "DramDevice"]


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


class CommandSignature(wiring.Signature):
    """The command bus of one channel, as seen from the controller (all members Out).

    One command per cycle; write data travels with its WR (the data-bus timing of
    the write burst is accounted for by the CWL-based rules of the timing table).
    """

    def __init__(self, preset: DramPreset):
        super().__init__({
            "cmd": Out(3),
            "bank": Out(_bits(preset.banks)),
            "row": Out(_bits(preset.rows)),
            "col": Out(_bits(preset.atoms_per_row)),
            "wdata": Out(preset.atom_bytes * 8),
            "wmask": Out(preset.atom_bytes),
        })


class DramDevice(wiring.Component):
    """Stores ``preset.channel_bytes`` in one memory per bank and answers reads
    exactly ``CL + tBL`` cycles after the RD (when the last beat of the burst
    would have arrived), with the data the array held at the RD.

    The row of a RD/WR is the bank's open row (as in a real device), so a
    controller that forgets an ACT reads the wrong data (and the checker says why).
    ``pl_*`` is a backdoor that writes one atom into every bank in one cycle
    (preload); ``dbg_*`` reads the same geometry back (dump). Both address
    ``row * atoms_per_row + column``.

    ``enable`` is the DRAM clock enable (see :mod:`memory_ctrl.clock_enable`): a
    command takes effect, and the read latency counts, only in enabled cycles, so
    all timing is in DRAM cycles. The backdoor works in every cycle.
    """

    def __init__(self, preset: DramPreset):
        self._preset = preset
        atom = preset.atom_bytes * 8
        index_bits = _bits(preset.rows * preset.atoms_per_row)
        super().__init__({
            "bus": In(CommandSignature(preset)),
            "enable": In(1, init=1),
            "rdata_valid": Out(1),
            "rdata": Out(atom),
            "pl_en": In(1),
            "pl_index": In(index_bits),
            "pl_data": In(atom * preset.banks),
            "dbg_index": In(index_bits),
            "dbg_rdata": Out(atom * preset.banks),
        })

    @property
    def preset(self) -> DramPreset:
        return self._preset

    @property
    def read_latency(self) -> int:
        return self._preset.CL + self._preset.burst_cycles

    def elaborate(self, platform):
        m = Module()
        p = self._preset
        atom = p.atom_bytes * 8
        depth = p.rows * p.atoms_per_row
        bus = self.bus
        cmd = Signal(3)  # the command as executed: none in a cycle the DRAM clock skips
        m.d.comb += cmd.eq(Mux(self.enable, bus.cmd, Cmd.NOP))

        open_row = Array(Signal(_bits(p.rows), name=f"open_row{b}") for b in range(p.banks))
        with m.If(cmd == Cmd.ACT):
            m.d.sync += open_row[bus.bank].eq(bus.row)
        index = Signal(self.pl_index.shape().width)
        col_bits = _bits(p.atoms_per_row) if p.atoms_per_row > 1 else 0
        row_index = open_row[bus.bank]
        if col_bits:
            m.d.comb += index.eq(Cat(bus.col[:col_bits], row_index))
        else:
            m.d.comb += index.eq(row_index)

        read_bank = Signal.like(bus.bank)
        m.d.sync += read_bank.eq(bus.bank)
        read_data = Array(Signal(atom, name=f"bank_rdata{b}") for b in range(p.banks))
        for b in range(p.banks):
            mem = uninitialized_memory(shape=atom, depth=depth)
            m.submodules[f"bank{b}"] = mem
            wp = mem.write_port(granularity=8)
            rp = mem.read_port()
            dp = mem.read_port()
            with m.If(self.pl_en):
                m.d.comb += [wp.addr.eq(self.pl_index),
                             wp.data.eq(self.pl_data[b * atom:(b + 1) * atom]),
                             wp.en.eq(Const(-1, len(wp.en)))]
            with m.Elif((cmd == Cmd.WR) & (bus.bank == b)):
                m.d.comb += [wp.addr.eq(index), wp.data.eq(bus.wdata), wp.en.eq(bus.wmask)]
            m.d.comb += [rp.addr.eq(index), rp.en.eq((cmd == Cmd.RD) & (bus.bank == b)),
                         read_data[b].eq(rp.data),
                         dp.addr.eq(self.dbg_index),
                         self.dbg_rdata[b * atom:(b + 1) * atom].eq(dp.data)]

        # The array is read at the RD; the data waits in a FIFO for CL + tBL.
        latency = self.read_latency
        inflight = -(-latency // max(1, min(p.burst_cycles, p.tCCD_S))) + 2
        m.submodules.delay = delay = fifo.SyncFIFOBuffered(width=atom, depth=inflight)
        was_read = Signal()
        m.d.sync += was_read.eq(cmd == Cmd.RD)
        m.d.comb += [delay.w_en.eq(was_read), delay.w_data.eq(read_data[read_bank])]
        due = Signal(latency)  # shifts in DRAM cycles
        with m.If(self.enable):
            m.d.sync += due.eq(Cat(cmd == Cmd.RD, due[:-1]))
        arrives = due[-1] & self.enable
        m.d.comb += [self.rdata_valid.eq(arrives), self.rdata.eq(delay.r_data),
                     delay.r_en.eq(arrives)]
        return m
