"""The Pattern Compute Unit: header (FIFOs, counter chain), SIMD body, tail, output FIFOs.

Ports (all valid/ready streams unless noted):

* ``cfg``: 32-bit configuration words, the image of :class:`~.config.PCUConfig`
  in order. Taken only while the unit is idle and empty; after the last word the
  header is checked (``cfg_error`` is set and the image dropped if it is not for
  this unit), the tail's stochastic rounders are reseeded from the image's
  ``seed`` and the configured passes start.
* ``vec_in`` (lanes x fp32/int32) and ``scalar_in`` (32 bits): input FIFOs.
  Every iteration takes one vector; with ``use_scalar`` the first iteration of
  every innermost loop also takes one scalar, used for that whole loop.
* ``vec_out`` (lanes x 32) or, with a reduction, ``scalar_out`` (lane 0):
  output FIFOs; only iterations chosen by ``emit`` produce output.
* ``done``: one token per finished pass when its last result has left the body;
  the payload counts tokens since reset (16 bits, wrapping).
* ``configured``, ``cfg_error``, ``busy`` (levels; ``busy`` from the first
  configuration word until the last pass's last result has left the body and
  the systolic array) and ``vec_fifo_peak``,
  ``out_fifo_peak`` (highest FIFO fill seen since reset) for observability.

Pipeline: the header's issue register, the body (``stages x STAGE_LATENCY``) and
the tail (``TAIL_LATENCY``) all advance together, stalling only when the value
at the tail's exit cannot go into its output FIFO (or the done FIFO).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .beat import BeatSignature
from .config import (
    COUNTERS,
    MAGIC,
    VERSION,
    Emit,
    Mode,
    PCUParams,
    ReduceOp,
    config_layout,
    config_words,
)
from .counter_chain import CounterChain
from .shared_modules import SharedModules
from .simd_body import SIMDBody
from .simd_stage import ACC_II, STAGE_LATENCY
from .systolic import SystolicArray
from .tail import TAIL_LATENCY, TAIL_UNITS, Tail

__all__ = ["PCU", "make_pcu"]

# Cycles after reset before the first issue: the numerics units (the deepest are in
# the tail) fill their own pipelines in this time (see pipe.run_in_step).
_SETTLE_CYCLES = 2 * max(STAGE_LATENCY, TAIL_LATENCY)


class _State(enum.Enum, shape=2):
    IDLE = 0
    LOADING = 1
    CHECK = 2
    RUN = 3


class PCU(wiring.Component):
    """A Pattern Compute Unit with ``params.lanes`` lanes and ``params.stages`` SIMD stages."""

    def __init__(self, params: PCUParams, shared_modules: bool | SharedModules = True):
        """``shared_modules``: True for a registry of its own, or the enclosing design's."""
        if not isinstance(params, PCUParams):
            raise TypeError(f"params must be a PCUParams, not {type(params).__name__}")
        self._params = params
        if isinstance(shared_modules, SharedModules):
            self._shared = shared_modules
        else:
            self._shared = SharedModules() if shared_modules else None
        lanes = params.lanes
        vector = data.ArrayLayout(unsigned(32), lanes)
        super().__init__({
            "cfg": In(stream.Signature(unsigned(32))),
            "vec_in": In(stream.Signature(vector)),
            "scalar_in": In(stream.Signature(unsigned(32))),
            "vec_out": Out(stream.Signature(vector)),
            "scalar_out": Out(stream.Signature(unsigned(32))),
            "done": Out(stream.Signature(unsigned(16))),
            "configured": Out(1),
            "cfg_error": Out(1),
            "busy": Out(1),
            "vec_fifo_peak": Out(range(params.vec_fifo_depth + 1)),
            "out_fifo_peak": Out(range(params.out_fifo_depth + 1)),
        })

    @property
    def params(self) -> PCUParams:
        return self._params

    def emit_verilog(self, name: str, reset: str = "sync") -> str:
        """Verilog of the unit with each shared submodule defined once (see shared_modules)."""
        if self._shared is None:
            from hdl.bus.reset_style import convert

            return convert(self, name, reset)
        return self._shared.emit_verilog(self, name, reset)

    @property
    def latency(self) -> int:
        """Advances from the issue register to the tail's exit."""
        return 1 + self._params.stages * STAGE_LATENCY + TAIL_LATENCY

    def elaborate(self, platform):
        m = Module()
        p = self._params
        lanes, stages = p.lanes, p.stages
        nwords = config_words(stages)

        # -- FIFOs ----------------------------------------------------------------------
        m.submodules.vec_fifo = vec_fifo = fifo.SyncFIFOBuffered(
            width=32 * lanes, depth=p.vec_fifo_depth)
        m.submodules.scalar_fifo = scalar_fifo = fifo.SyncFIFOBuffered(
            width=32, depth=p.scalar_fifo_depth)
        m.submodules.vec_out_fifo = vout_fifo = fifo.SyncFIFOBuffered(
            width=32 * lanes, depth=p.out_fifo_depth)
        m.submodules.scalar_out_fifo = sout_fifo = fifo.SyncFIFOBuffered(
            width=32, depth=p.out_fifo_depth)
        m.submodules.done_fifo = done_fifo = fifo.SyncFIFOBuffered(width=16, depth=4)
        for port, q in ((self.vec_in, vec_fifo), (self.scalar_in, scalar_fifo)):
            m.d.comb += [q.w_data.eq(port.payload), q.w_en.eq(port.valid), port.ready.eq(q.w_rdy)]
        for port, q in ((self.vec_out, vout_fifo), (self.scalar_out, sout_fifo),
                        (self.done, done_fifo)):
            m.d.comb += [port.payload.eq(q.r_data), port.valid.eq(q.r_rdy), q.r_en.eq(port.ready)]
        for peak, q in ((self.vec_fifo_peak, vec_fifo), (self.out_fifo_peak, vout_fifo)):
            with m.If(q.level > peak):
                m.d.sync += peak.eq(q.level)
        with m.If(sout_fifo.level > self.out_fifo_peak):
            m.d.sync += self.out_fifo_peak.eq(sout_fifo.level)

        # -- configuration port -----------------------------------------------------------
        image = Signal(32 * nwords)
        cfg = data.View(config_layout(stages), image)
        state = Signal(_State)
        words = Signal(range(nwords + 1))
        passes_done = Signal(16)
        settle = Signal(range(_SETTLE_CYCLES + 1))
        with m.If(settle != _SETTLE_CYCLES):
            m.d.sync += settle.eq(settle + 1)

        m.submodules.body = body = SIMDBody(lanes, stages, self._shared)
        m.submodules.tail = tail = Tail(lanes, self._shared, p.tail_ops)
        issue = BeatSignature(lanes).create(path=("issue",))  # the issue register
        pipe_busy = Cat(issue.valid, body.busy, tail.busy).any()
        array_busy = Signal()  # driven by the systolic body when there is one
        m.d.comb += [self.configured.eq(state == _State.RUN),
                     self.busy.eq((state != _State.IDLE) | pipe_busy | array_busy)]

        m.d.comb += self.cfg.ready.eq(((state == _State.IDLE) & ~pipe_busy)
                                      | (state == _State.LOADING))
        with m.If(self.cfg.valid & self.cfg.ready):
            m.d.sync += [image.eq(Cat(image[32:], self.cfg.payload)), words.eq(words + 1),
                         state.eq(_State.LOADING)]
            with m.If(words == nwords - 1):
                m.d.sync += [state.eq(_State.CHECK), words.eq(0)]

        mode_ok = cfg.mode == Mode.SIMD
        if p.systolic:
            mode_ok = mode_ok | (cfg.mode == Mode.SYSTOLIC)
        header_ok = Cat(
            cfg.magic == MAGIC, cfg.version == VERSION, cfg.lanes == lanes,
            cfg.stages == stages,
            mode_ok,
            cfg.reduce != 3,
            Cat(*(cfg.tail == int(op) for op in TAIL_UNITS)).any(), cfg.passes != 0,
            *(getattr(cfg, f"ctr{k}_bound") != 0 for k in range(COUNTERS)),
        ).all()
        counters = CounterChain(COUNTERS)
        m.submodules.counters = counters
        for k in range(COUNTERS):
            m.d.comb += [counters.settings[k].bound.eq(getattr(cfg, f"ctr{k}_bound")),
                         counters.settings[k].stride.eq(getattr(cfg, f"ctr{k}_stride")),
                         counters.settings[k].start.eq(getattr(cfg, f"ctr{k}_start"))]
        with m.If(state == _State.CHECK):
            m.d.comb += counters.load.eq(1)
            m.d.sync += [passes_done.eq(0), self.cfg_error.eq(~header_ok),
                         state.eq(Mux(header_ok, _State.RUN, _State.IDLE))]

        # -- issue (header -> body) -------------------------------------------------------
        advance = Signal()
        gap = Signal(range(ACC_II + 1))
        need_scalar = cfg.use_scalar & counters.first
        can_issue = ((state == _State.RUN) & (settle == _SETTLE_CYCLES) & vec_fifo.r_rdy
                     & (~need_scalar | scalar_fifo.r_rdy)
                     & (~body.has_acc | (gap >= ACC_II - 1)))
        fire = Signal()
        m.d.comb += [fire.eq(can_issue & advance), vec_fifo.r_en.eq(fire),
                     scalar_fifo.r_en.eq(fire & need_scalar), counters.step.eq(fire)]
        scalar_reg = Signal(32)
        scalar = Mux(need_scalar, scalar_fifo.r_data, scalar_reg)
        with m.If(fire & need_scalar):
            m.d.sync += scalar_reg.eq(scalar_fifo.r_data)
        with m.If(fire & counters.last):
            m.d.sync += passes_done.eq(passes_done + 1)
            with m.If(passes_done + 1 == cfg.passes):
                m.d.sync += state.eq(_State.IDLE)
        with m.If(advance):
            m.d.sync += gap.eq(Mux(fire, 0, Mux(gap == ACC_II, gap, gap + 1)))

        with m.If(advance):
            m.d.sync += [
                issue.valid.eq(fire),
                issue.data.eq(vec_fifo.r_data),
                issue.meta.first.eq(counters.first),
                issue.meta.last_inner.eq(counters.last_inner),
                issue.meta.last.eq(counters.last),
                issue.meta.scalar.eq(scalar),
                *(issue.meta.ctr[k].eq(counters.value[k]) for k in range(COUNTERS)),
            ]

        # -- body and tail -------------------------------------------------------------
        m.d.comb += [
            body.advance.eq(advance), body.config.eq(image),
            tail.advance.eq(advance), tail.op.eq(cfg.tail),
            # Every image restarts the stochastic rounders (the pipeline is empty here).
            tail.seed.eq(cfg.seed), tail.load_seed.eq(state == _State.CHECK),
        ]
        wiring.connect(m, issue, body.i)
        wiring.connect(m, body.o, tail.i)

        # -- exit: output FIFOs and done tokens -------------------------------------------
        emit = Signal()
        reduced = cfg.reduce != ReduceOp.NONE
        m.d.comb += emit.eq((cfg.emit == Emit.EVERY) | tail.o.meta.last_inner)
        target_ready = Mux(reduced, sout_fifo.w_rdy, vout_fifo.w_rdy)
        accept = (~emit | target_ready) & (~tail.o.meta.last | done_fifo.w_rdy)
        m.d.comb += advance.eq(~tail.o.valid | accept)
        leaving = tail.o.valid & accept
        done_count = Signal(16)
        m.d.comb += [
            vout_fifo.w_data.eq(tail.o.data), vout_fifo.w_en.eq(leaving & emit & ~reduced),
            sout_fifo.w_data.eq(tail.o.data[0]), sout_fifo.w_en.eq(leaving & emit & reduced),
            done_fifo.w_data.eq(done_count), done_fifo.w_en.eq(leaving & tail.o.meta.last),
        ]
        with m.If(leaving & tail.o.meta.last):
            m.d.sync += done_count.eq(done_count + 1)

        if p.systolic:
            self._systolic_body(m, cfg, state, settle, vec_fifo, vout_fifo, done_fifo,
                                counters, fire, issue.valid, done_count, pipe_busy, array_busy)
        return m

    def _systolic_body(self, m, cfg, state, settle, vec_fifo, vout_fifo, done_fifo, counters,
                       fire, issue_valid, done_count, pipe_busy, array_busy):
        """SYSTOLIC mode: the header feeds the systolic array instead of the SIMD stages.

        Each iteration takes one vector: lane i carries a[i] (column k of A, bf16) in
        bits 0-15 and b[i] (row k of B, bf16) in bits 16-31. Counter 0 is k (its
        bound is k_len); counters 1 and 2 count tiles. The array's ``c`` rows go
        to ``vec_out`` (no tail operation); the pass's last row raises ``done``.
        The statements here come after the SIMD ones and override them in this mode.
        """
        lanes = self._params.lanes
        m.submodules.systolic = array = SystolicArray(lanes, lanes)
        sys_mode = Signal()
        m.d.comb += [sys_mode.eq(cfg.mode == Mode.SYSTOLIC), array.k_len.eq(cfg.ctr0_bound)]
        offer = sys_mode & (state == _State.RUN) & (settle == _SETTLE_CYCLES) & vec_fifo.r_rdy
        for i in range(lanes):
            m.d.comb += [array.a.payload[i].eq(vec_fifo.r_data[32 * i:32 * i + 16]),
                         array.b.payload[i].eq(vec_fifo.r_data[32 * i + 16:32 * i + 32])]
        m.d.comb += [array.a.valid.eq(offer), array.b.valid.eq(offer)]

        # Rows still to come out of the array, and rows left in the current pass.
        tiles_per_pass = Signal(32)
        m.d.comb += tiles_per_pass.eq(cfg.ctr1_bound * cfg.ctr2_bound)
        rows_pending = Signal(16)
        row = Signal(range(lanes))
        tiles_out = Signal(32)
        drained = array.c.valid & array.c.ready
        tile_done = drained & (row == lanes - 1)
        pass_done = tile_done & (tiles_out + 1 == tiles_per_pass)
        tile_issued = sys_mode & fire & counters.last_inner
        m.d.sync += rows_pending.eq(rows_pending + Mux(tile_issued, lanes, 0) - drained)
        with m.If(drained):
            m.d.sync += row.eq(Mux(row == lanes - 1, 0, row + 1))
        with m.If(tile_done):
            m.d.sync += tiles_out.eq(Mux(pass_done, 0, tiles_out + 1))
        with m.If(sys_mode):
            m.d.comb += [
                fire.eq(array.a.ready),
                array.c.ready.eq(vout_fifo.w_rdy & (~pass_done_if_taken(row, lanes, tiles_out,
                                                                         tiles_per_pass)
                                                    | done_fifo.w_rdy)),
                vout_fifo.w_data.eq(array.c.payload), vout_fifo.w_en.eq(drained),
                done_fifo.w_en.eq(pass_done),
            ]
            m.d.sync += issue_valid.eq(0)
            with m.If(pass_done):
                m.d.sync += done_count.eq(done_count + 1)
        m.d.comb += array_busy.eq(rows_pending != 0)
        with m.If((state == _State.IDLE) & (rows_pending != 0)):  # the array is not empty yet
            m.d.comb += self.cfg.ready.eq(0)




def pass_done_if_taken(row, lanes, tiles_out, tiles_per_pass):
    """The row at the array's output, if taken now, is the last of its pass."""
    return (row == lanes - 1) & (tiles_out + 1 == tiles_per_pass)


def make_pcu(lanes: int = 16, stages: int = 6, vec_fifo_depth: int = 4,
             scalar_fifo_depth: int = 4, out_fifo_depth: int = 4, systolic: bool = False) -> PCU:
    """Design factory (JSON parameters) for ``Design`` / ``rdu verilog pcu``."""
    return PCU(PCUParams(lanes=lanes, stages=stages, vec_fifo_depth=vec_fifo_depth,
                         scalar_fifo_depth=scalar_fifo_depth, out_fifo_depth=out_fifo_depth,
                         systolic=systolic))
