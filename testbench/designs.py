"""Every design the command line can emit or lint, by name, with default parameters.

Later units register here too, so ``rdu verilog NAME`` and ``rdu lint`` cover them.
"""

from dataclasses import dataclass

from hdl.numerics.catalog import NUMERIC_UNITS

from .sim.build_cache import Design

__all__ = ["DesignEntry", "DESIGNS", "design_named"]


@dataclass(frozen=True)
class DesignEntry:
    """A factory ("module:callable"), its default parameters and a one-line description."""

    factory: str
    defaults: dict
    description: str


DESIGNS: dict[str, DesignEntry] = {
    **{unit: DesignEntry("hdl.numerics.catalog:numeric_array", {"unit": unit, "lanes": 1},
                         f"arithmetic unit {unit} (lanes copies behind one stream)")
       for unit in NUMERIC_UNITS},
    "pcu": DesignEntry("pcu_pmu.pcu.pcu:make_pcu",
                       {"lanes": 16, "stages": 6, "vec_fifo_depth": 4, "scalar_fifo_depth": 4,
                        "out_fifo_depth": 4, "systolic": False},
                       "Pattern Compute Unit: FIFOs, counters, lanes x stages SIMD body, tail"),
    "pmu": DesignEntry("pcu_pmu.pmu.pmu:make_pmu", {"banks": 16, "depth": 256, "width": 32},
                       "Pattern Memory Unit: banked SRAM, address generators, N-buffering"),
    "systolic": DesignEntry("pcu_pmu.pcu.systolic:make_systolic", {"rows": 8, "cols": 8},
                            "PCU systolic body: output-stationary bf16 x bf16 -> fp32 array"),
}


def design_named(name: str, overrides: dict | None = None, toplevel: str | None = None) -> Design:
    """The Design for ``name`` with ``overrides`` applied to its default parameters."""
    try:
        entry = DESIGNS[name]
    except KeyError:
        raise ValueError(f"unknown design {name!r}; known: {', '.join(sorted(DESIGNS))}") from None
    params = dict(entry.defaults)
    unknown = set(overrides or {}) - set(params)
    if unknown:
        raise ValueError(f"design {name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"its parameters: {', '.join(sorted(params))}")
    params.update(overrides or {})
    return Design(toplevel or name, entry.factory, params)
