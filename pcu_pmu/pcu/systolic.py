"""The PCU's systolic body: an output-stationary array of bf16 x bf16 -> fp32 MAC PEs.

Data flow (one k per cycle, every PE busy every cycle):

* broadcast buffer: a beat of ``a`` (column k of A) and a beat of ``b`` (row k
  of B) are taken together and registered; element ``a[i]`` is broadcast to PE
  row i, ``b[j]`` to PE column j, with the tile's first/last-k flags;
* PE (i, j): an FPMultiplier(BF16) (4 stages) forms the exact product, then a
  single-cycle fp32 adder (:mod:`.systolic_adder`) updates the PE's
  accumulator, ``c = f32_add(c, p)`` with ``c = +0.0`` before k = 0. The adder
  is the only thing in the feedback loop, so each accumulation is strictly
  sequential over k and still takes one k per cycle (no interleaving, no
  reassociation);
* drain buffer: the last k of a tile writes the sums into a second register
  bank (double buffering), which shifts out one row of C per ``c`` beat, row 0
  first, while the accumulators already work on the next tile.

All pipeline registers advance together on one ``advance`` signal. It drops
only when a tile's last products reach the accumulators while the drain buffer
still holds an earlier tile that ``c`` has not fully taken; then the whole
array (and the ``a``/``b`` inputs) waits. With K > rows and ``c`` always ready
this never happens, so back-to-back tiles stream at one beat per cycle:
N tiles take sum(K) + latency + rows - 1 cycles from the first beat taken to
the last row of C taken (latency 6: broadcast buffer, 4 multiplier stages,
accumulate).

The price of the single-cycle accumulator is a whole fp32 add (align, add,
normalise, round) inside one clock period: in silicon that loop would set the
PCU's clock. It changes neither the results nor this model's cycles per k.

There is no C += preload: every tile starts from +0.0.
"""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.formats import BF16
from hdl.numerics.fp_mul import FPMultiplier

from .systolic_adder import fp32_add_comb

__all__ = ["SystolicArray", "make_systolic"]

_MAX_DIM = 64


class SystolicArray(wiring.Component):
    """``rows x cols`` output-stationary systolic array computing an fp32 tile ``C = A @ B``.

    Ports: ``a`` (column k of A, ``rows`` bf16) and ``b`` (row k of B, ``cols``
    bf16) streams, taken together, one beat each per k; ``k_len`` (K of the
    tile, >= 1, held stable while a tile's beats are taken); ``c`` stream of
    ``rows`` beats per tile, one row of ``cols`` fp32 values each, row 0 first.
    Each ``c[i][j]`` is the in-order sum over k of bf16_mul_f32(a[i], b[j])
    starting from +0.0, bit-exact with :mod:`testbench.golden.systolic`.
    """

    def __init__(self, rows: int, cols: int):
        for name, value in (("rows", rows), ("cols", cols)):
            if not isinstance(value, int) or not 1 <= value <= _MAX_DIM:
                raise ValueError(f"{name} must be an integer in [1, {_MAX_DIM}], not {value!r}")
        self._rows = rows
        self._cols = cols
        super().__init__({
            "a": In(stream.Signature(data.ArrayLayout(unsigned(16), rows))),
            "b": In(stream.Signature(data.ArrayLayout(unsigned(16), cols))),
            "k_len": In(16),
            "c": Out(stream.Signature(data.ArrayLayout(unsigned(32), cols))),
        })

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def latency(self) -> int:
        """Cycles from taking a tile's last a/b beat to the earliest transfer of its row 0."""
        return 2 + FPMultiplier.latency

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols
        advance = Signal()
        take = Signal()
        m.d.comb += [
            take.eq(advance & self.a.valid & self.b.valid),
            self.a.ready.eq(take),
            self.b.ready.eq(take),
        ]

        # Position of the next beat inside its tile.
        k = Signal(16)
        k_last = (k + 1) == self.k_len
        with m.If(take):
            m.d.sync += k.eq(Mux(k_last, 0, k + 1))

        # Broadcast buffer, then flags that travel beside the multipliers' stages.
        # Data registers have no reset: their contents only matter under a valid flag.
        bb_a = Signal(data.ArrayLayout(unsigned(16), rows), reset_less=True)
        bb_b = Signal(data.ArrayLayout(unsigned(16), cols), reset_less=True)
        flags = data.StructLayout({"valid": 1, "first": 1, "last": 1})
        stages = [Signal(flags, name=f"flags{n}") for n in range(FPMultiplier.latency + 1)]
        with m.If(advance):
            m.d.sync += [
                bb_a.eq(self.a.payload),
                bb_b.eq(self.b.payload),
                stages[0].valid.eq(take),
                stages[0].first.eq(k == 0),
                stages[0].last.eq(k_last),
            ]
            m.d.sync += [stages[n + 1].eq(stages[n]) for n in range(len(stages) - 1)]
        done = stages[-1]

        # Drain buffer: rows of C, shifted out from row 0.
        drain = [Signal(data.ArrayLayout(unsigned(32), cols), name=f"drain_row{i}",
                        reset_less=True) for i in range(rows)]
        drain_full = Signal()
        drain_row = Signal(range(rows))
        drain_last_row = drain_row == rows - 1
        c_taken = self.c.valid & self.c.ready
        m.d.comb += [self.c.valid.eq(drain_full), self.c.payload.eq(drain[0])]
        with m.If(c_taken):
            m.d.sync += [drain[i].eq(drain[i + 1]) for i in range(rows - 1)]
            m.d.sync += drain_row.eq(Mux(drain_last_row, 0, drain_row + 1))
            with m.If(drain_last_row):
                m.d.sync += drain_full.eq(0)
        # ``advance`` (the array's global enable) comes from registers only, so
        # there is no combinational path from c.ready to a.ready/b.ready. The
        # price: a tile whose last k arrives just as the drain hands out its
        # predecessor's last row (K == rows, c always ready) waits one cycle.
        m.d.comb += advance.eq(~(done.valid & done.last & drain_full))

        # The multipliers always see valid operands, so their valid bits are all
        # set from the fourth cycle after reset on and their stages then move
        # exactly when ``advance`` does (o.ready); before that both move every
        # cycle, since ``advance`` can only drop once a flagged beat has gone
        # through all four stages.
        accumulate = advance & done.valid
        for i in range(rows):
            for j in range(cols):
                mul = FPMultiplier(BF16)
                m.submodules[f"mul_{i}_{j}"] = mul
                m.d.comb += [
                    mul.i.valid.eq(1),
                    mul.i.payload.a.eq(bb_a[i]),
                    mul.i.payload.b.eq(bb_b[j]),
                    mul.o.ready.eq(advance),
                ]
                acc = Signal(32, name=f"acc_{i}_{j}", reset_less=True)
                total = fp32_add_comb(m, Mux(done.first, Const(0, 32), acc), mul.o.payload,
                                      name=f"pe_{i}_{j}")
                with m.If(accumulate):
                    m.d.sync += acc.eq(total)
                    with m.If(done.last):
                        m.d.sync += drain[i][j].eq(total)
        with m.If(accumulate & done.last):
            m.d.sync += [drain_full.eq(1), drain_row.eq(0)]
        return m


def make_systolic(rows: int = 8, cols: int = 8) -> SystolicArray:
    """Design factory: ``Design("systolic_8x8", "pcu_pmu.pcu.systolic:make_systolic", {...})``."""
    return SystolicArray(rows, cols)
