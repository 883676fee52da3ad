"""Pattern Memory Unit: banked SRAM with independent write and read address pipelines."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .address_generator import AddressGenerator
from .config import (
    ADDR_BITS,
    COUNT_BITS,
    LEVELS,
    STRIDE_BITS,
    Port,
    ReadLayout,
    WriteLayout,
)
from .config_port import ConfigPort
from .params import PMUParams

__all__ = ["PMU", "make_pmu"]


class PMU(wiring.Component):
    """A PMU of ``params.banks`` banks x ``params.depth`` words of ``params.width`` bits.

    Ports (all ``amaranth.lib.stream``): ``cfg`` (32-bit configuration words, see
    :mod:`.config`), ``vec_in`` / ``vec_out`` (``lanes`` = ``banks`` words, lane 0 in
    the low bits), ``sca_in`` / ``sca_out`` (one word); ``busy`` is high from the
    last configuration word until both sides finished all passes and the last read
    beat has left. The next configuration is taken once all passes are done.

    With ``half_write`` the write side stores only the half word its address picks
    (see :mod:`.config`), through per-half write enables of the banks.

    Per cycle the write side can take one beat and the read side can issue one
    read; a read beat appears one cycle after its address. Writes and reads of
    one pass never share a buffer when ``n_buffers >= 2``; with one buffer the
    read pass starts only after the write pass, so no hazard needs forwarding.

    Pipeline-stage credits and the tile's input reorder (see :mod:`.config`):
    ``credit_in`` (in) counts one credit per cycle it is high; with ``read_credits``
    a read pass starts only while a credit is held. ``read_pass_start`` /
    ``read_pass_done`` pulse on the first read step of a pass and when a read pass
    ends (its buffer is free again: the token a producer upstream waits for);
    ``configured`` pulses when a configuration takes effect; ``reorder_input`` is
    high while a configuration with ``reorder_input`` runs; ``read_credits`` and
    ``initial_credits`` show the running configuration's fields (for checkers).
    """

    def __init__(self, params: PMUParams):
        if not isinstance(params, PMUParams):
            raise ValueError(f"params must be PMUParams, not {params!r}")
        self._params = params
        vector = data.ArrayLayout(params.width, params.lanes)
        super().__init__({
            "cfg": In(stream.Signature(32)),
            "vec_in": In(stream.Signature(vector)),
            "sca_in": In(stream.Signature(params.width)),
            "vec_out": Out(stream.Signature(vector)),
            "sca_out": Out(stream.Signature(params.width)),
            "busy": Out(1),
            "credit_in": In(1),
            "configured": Out(1),
            "reorder_input": Out(1),
            "read_credits": Out(1),
            "initial_credits": Out(8),
            "read_pass_start": Out(1),
            "read_pass_done": Out(1),
        })

    @property
    def params(self) -> PMUParams:
        return self._params

    def elaborate(self, platform):
        p = self._params
        banks, width, bank_bits, row_bits = p.banks, p.width, p.bank_bits, p.row_bits
        m = Module()

        m.submodules.config_port = port = ConfigPort()
        cfg = port.config
        wiring.connect(m, wiring.flipped(self.cfg), port.words)

        # Even widths get a write enable per half word (``half_write``); en is then 2 bits.
        halves = 2 if width % 2 == 0 else 1
        mems = []
        for b in range(banks):
            mem = Memory(shape=width, depth=p.depth, init=[])
            m.submodules[f"bank{b}"] = mem
            write_port = (mem.write_port(granularity=width // 2) if halves == 2
                          else mem.write_port())
            mems.append((write_port, mem.read_port()))

        # -- control: passes, buffers, and the count of filled buffers ---------------------
        running = Signal()
        w_pass = Signal(16)
        r_pass = Signal(16)
        w_buf = Signal(8)
        r_buf = Signal(8)
        full = Signal(9)
        m.d.comb += port.idle.eq(~running)

        # log2(depth / n_buffers): where the buffer index starts in a row address.
        buf_shift = Signal(range(row_bits + 1))
        with m.Switch(cfg.n_buffers):
            for log2_n in range(row_bits + 1):
                if 1 << log2_n < 256:
                    with m.Case(1 << log2_n):
                        m.d.comb += buf_shift.eq(row_bits - log2_n)

        def address_generator(name, side):
            ag = AddressGenerator(LEVELS, ADDR_BITS, COUNT_BITS, STRIDE_BITS)
            m.submodules[name] = ag
            m.d.comb += [ag.load.eq(port.start), ag.base.eq(side.base),
                         ag.bounds.eq(side.bounds), ag.strides.eq(side.strides)]
            in_range = (ag.addr >= side.lo) & (ag.addr < side.hi)
            local = Signal(ADDR_BITS, name=f"{name}_local")
            m.d.comb += local.eq(ag.addr - side.lo)
            return ag, in_range, local

        shift = cfg.bank_shift[:5]

        def scalar_bank_row(local):
            """Bank-select bits at ``bank_shift``; the bits around them form the row."""
            bank = (local >> shift)[:bank_bits]
            low = local & ~(Const((1 << ADDR_BITS) - 1, ADDR_BITS) << shift)[:ADDR_BITS]
            high = ((local >> (shift + bank_bits)) << shift)[:ADDR_BITS]
            return bank, (low | high)[:row_bits]

        def rotate(words, amount):
            """Lane c of the result is ``words[(c + amount) mod banks]``."""
            flat = Cat(*words)
            return Cat(flat, flat).bit_select(amount * width, banks * width)

        # -- write side ----------------------------------------------------------------------
        w_ag, w_in_range, w_local = address_generator("write_ag", cfg.write)
        w_active = running & (w_pass != cfg.passes) & (full != cfg.n_buffers)
        w_scalar = cfg.write_port == Port.SCALAR
        m.d.comb += [
            self.vec_in.ready.eq(w_active & ~w_scalar),
            self.sca_in.ready.eq(w_active & w_scalar),
        ]
        w_take = Signal()
        m.d.comb += w_take.eq((self.vec_in.valid & self.vec_in.ready) |
                              (self.sca_in.valid & self.sca_in.ready))
        m.d.comb += w_ag.step.eq(w_take)
        w_offset = (w_buf << buf_shift)[:row_bits]
        w_bank, w_row_scalar = scalar_bank_row(w_local)
        # half_write: the bit above a buffer's rows picks the half; the bits below, the row.
        w_half = (w_local >> buf_shift)[0]
        w_row_vector = Signal(ADDR_BITS)
        m.d.comb += w_row_vector.eq(Mux(
            cfg.half_write,
            w_local & ~(Const((1 << ADDR_BITS) - 1, ADDR_BITS) << buf_shift)[:ADDR_BITS],
            w_local))
        w_rot = Mux(cfg.write_layout == WriteLayout.DIAGONAL, w_row_vector[:bank_bits], 0)
        w_half_mask = Mux(cfg.half_write, Mux(w_half, 0b10, 0b01), 0b11)
        # bank b takes lane (b - rot) mod banks
        lanes_in = [self.vec_in.payload[c] for c in range(banks)]
        w_rotated = rotate(lanes_in, (banks - w_rot)[:bank_bits])
        w_row = Signal(row_bits)
        m.d.comb += w_row.eq(Mux(w_scalar, w_row_scalar, w_row_vector[:row_bits]) | w_offset)
        for b, (wp, _) in enumerate(mems):
            write = w_take & w_in_range & (~w_scalar | (w_bank == b))
            m.d.comb += [
                wp.addr.eq(w_row),
                wp.data.eq(Mux(w_scalar, self.sca_in.payload,
                               w_rotated[b * width:(b + 1) * width])),
                wp.en.eq(Mux(write, w_half_mask if halves == 2 else 1, 0)),
            ]
        w_end = w_take & w_ag.last

        # -- read side: issue stage (address) -> data stage (memory output register) -------
        r_ag, r_in_range, r_local = address_generator("read_ag", cfg.read)
        credits = Signal(16)
        r_in_pass = Signal()  # a read pass has started and not yet ended
        r_may_start = ~cfg.read_credits | r_in_pass | (credits != 0)
        r_active = running & (r_pass != cfg.passes) & (full != 0) & r_may_start
        d_valid = Signal()
        d_scalar = Signal()
        d_rot = Signal(bank_bits)
        d_bank = Signal(bank_bits)
        advance = Signal()
        m.d.comb += advance.eq(~d_valid | Mux(d_scalar, self.sca_out.ready, self.vec_out.ready))
        r_step = Signal()
        m.d.comb += [r_step.eq(r_active & advance), r_ag.step.eq(r_step)]
        r_scalar = cfg.read_port == Port.SCALAR
        r_offset = (r_buf << buf_shift)[:row_bits]
        r_bank, r_row_scalar = scalar_bank_row(r_local)
        column = r_local[:bank_bits]
        tile = r_local[bank_bits:row_bits]
        transposed = cfg.read_layout == ReadLayout.TRANSPOSED
        r_row_common = Mux(r_scalar, r_row_scalar, r_local[:row_bits])
        for b, (_, rp) in enumerate(mems):
            tile_row = Cat((Const(b, bank_bits) - column)[:bank_bits], tile)[:row_bits]
            m.d.comb += [
                rp.addr.eq(Mux(transposed, tile_row, r_row_common) | r_offset),
                rp.en.eq(advance),
            ]
        with m.If(advance):
            m.d.sync += [
                d_valid.eq(r_step & r_in_range),
                d_scalar.eq(r_scalar),
                d_rot.eq(Mux(cfg.read_layout == ReadLayout.PLAIN, 0, column)),
                d_bank.eq(r_bank),
            ]
        words_out = [rp.data for _, rp in mems]
        m.d.comb += [
            self.vec_out.valid.eq(d_valid & ~d_scalar),
            self.vec_out.payload.eq(rotate(words_out, d_rot)),
            self.sca_out.valid.eq(d_valid & d_scalar),
            self.sca_out.payload.eq(Cat(*words_out).word_select(d_bank, width)),
        ]
        r_end = r_step & r_ag.last
        r_first = Signal()
        m.d.comb += [
            r_first.eq(r_step & ~r_in_pass),
            self.busy.eq(running | port.start | d_valid),
            self.configured.eq(port.start),
            self.reorder_input.eq(running & cfg.reorder_input),
            self.read_credits.eq(cfg.read_credits),
            self.initial_credits.eq(cfg.initial_credits),
            self.read_pass_start.eq(r_first),
            self.read_pass_done.eq(r_end),
        ]

        # -- pass bookkeeping ----------------------------------------------------------------
        last_buf = cfg.n_buffers - 1
        with m.If(port.start):
            m.d.sync += [running.eq(1), w_pass.eq(0), r_pass.eq(0), w_buf.eq(0), r_buf.eq(0),
                         full.eq(0), r_in_pass.eq(0),
                         credits.eq(cfg.initial_credits + self.credit_in)]
        with m.Else():
            spent = r_first & cfg.read_credits
            m.d.sync += credits.eq(credits + self.credit_in - spent)
            with m.If(r_end):
                m.d.sync += r_in_pass.eq(0)
            with m.Elif(r_step):
                m.d.sync += r_in_pass.eq(1)
            m.d.sync += full.eq(full + w_end - r_end)
            with m.If(w_end):
                m.d.sync += [w_pass.eq(w_pass + 1),
                             w_buf.eq(Mux(w_buf == last_buf, 0, w_buf + 1))]
            with m.If(r_end):
                m.d.sync += [r_pass.eq(r_pass + 1),
                             r_buf.eq(Mux(r_buf == last_buf, 0, r_buf + 1))]
            with m.If((w_pass == cfg.passes) & (r_pass == cfg.passes)):
                m.d.sync += running.eq(0)
        return m


def make_pmu(banks: int = 16, depth: int = 256, width: int = 32) -> PMU:
    """Factory for ``Design(..., "pcu_pmu.pmu.pmu:make_pmu", {json params})``."""
    return PMU(PMUParams(banks=banks, depth=depth, width=width))
