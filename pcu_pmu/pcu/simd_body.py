"""The PCU's SIMD body: ``stages`` SIMD stages in a row, the reduction tree on the last ones."""

import functools

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .beat import BeatSignature
from .config import config_layout
from .reduction_tree import stage_controls, tree_stage_range
from .simd_stage import STAGE_LATENCY, SIMDStage

__all__ = ["SIMDBody"]


class SIMDBody(wiring.Component):
    """``lanes x stages`` pipeline, ``stages * STAGE_LATENCY`` advances deep.

    ``config`` is the decoded configuration image; it must hold still while
    beats are inside (``busy``). Each stage runs a registered copy of its op and
    operand selects, so they follow ``config`` a cycle late (the PCU's CHECK state
    covers that cycle before the first beat).
    """

    def __init__(self, lanes: int, stages: int, shared=None):
        if stages < 1:
            raise ValueError(f"stages must be at least 1, not {stages}")
        self._lanes, self._stages = lanes, stages
        self._shared = shared
        super().__init__({
            "advance": In(1), "config": In(config_layout(stages)),
            "i": In(BeatSignature(lanes)), "o": Out(BeatSignature(lanes)),
            "busy": Out(1), "has_acc": Out(1),
        })

    @property
    def latency(self) -> int:
        return self._stages * STAGE_LATENCY

    def elaborate(self, platform):
        from .config import ACC_OPS

        m = Module()
        cfg = self.config
        tree = tree_stage_range(self._lanes, self._stages)
        beat = wiring.flipped(self.i)
        busy, acc_flags = [], []
        for s in range(self._stages):
            stage = SIMDStage(self._lanes, self._shared)
            if self._shared is None:
                m.submodules[f"stage{s}"] = stage
            else:
                self._shared.instantiate(m, f"stage{s}", f"pcu_simd_stage_l{self._lanes}", stage,
                                         functools.partial(SIMDStage, self._lanes, self._shared))
            fields = [getattr(cfg, f"st{s}_{name}") for name in ("op", "a", "b", "c")]
            # Registered: the reduction tree's override of a stage's controls was on a
            # critical FPGA path from the configuration image into the stage.
            controls = stage_controls(cfg.reduce, s in tree, *fields)
            m.d.sync += [port.eq(control) for port, control
                         in zip((stage.op, stage.sel_a, stage.sel_b, stage.sel_c), controls,
                                strict=True)]
            m.d.comb += [stage.advance.eq(self.advance), stage.imm.eq(getattr(cfg, f"st{s}_imm"))]
            wiring.connect(m, beat, stage.i)
            beat = stage.o
            busy.append(stage.busy)
            acc_flags += [fields[0] == int(acc_op) for acc_op in ACC_OPS]
        wiring.connect(m, beat, wiring.flipped(self.o))
        m.d.comb += [self.busy.eq(Cat(*busy).any()), self.has_acc.eq(Cat(*acc_flags).any())]
        return m
