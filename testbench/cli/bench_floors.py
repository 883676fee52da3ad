"""The floors ``rdu bench`` holds its figures to: one table, and the check.

A part checks a figure with :func:`check`, puts ``floor`` and ``passed`` beside the
figure in its data (:meth:`FloorResult.fields`) and lists every check under
``data["floors"]`` (:meth:`FloorResult.to_json`); ``rdu bench`` reads those lists
back (:func:`results_of`) and exits 1 when a figure is below its floor
(:func:`exit_status`). Floors are never lowered to make a figure pass.
"""

from dataclasses import dataclass

__all__ = ["Floor", "FloorResult", "FLOORS", "check", "results_of", "summary", "exit_status"]


@dataclass(frozen=True)
class Floor:
    """The least acceptable value of one bench figure, in ``unit``, and why."""

    name: str
    floor: float
    unit: str
    why: str


FLOORS = {floor.name: floor for floor in (
    Floor("hbm_seq_read", 85.0, "% of HBM tier peak",
          "SN40L decode runs at more than 85% of HBM bandwidth (arXiv 2405.07518); "
          "a sequential read is the easiest pattern, so the tier must reach it"),
    Floor("ddr_to_hbm_copy", 90.0, "% of DDR tier peak",
          "expert switching is a DDR -> HBM copy; the paper's 15x/31x over a host link "
          "assume the copy runs near the DDR side's bandwidth"),
    Floor("systolic_k256", 90.0, "% MAC utilisation",
          "back-to-back tiles stream one k per cycle (pcu_pmu/pcu/systolic.py): at K=256 "
          "only the fill and drain of the pipeline are idle"),
    Floor("link_goodput", 90.0, "% of bound",
          "goodput within 10% of min(payload efficiency, credits / round trip) "
          "(testbench/cli/link_sim.py round_trip_cycles)"),
    Floor("simspeed_vs_bare", 60.0, "% of the bare C++ harness",
          "cocotb as the project runs a kernel keeps Python off the per-cycle path, so it "
          "must run the Verilated RDU at most 40% slower than C++ alone"),
    Floor("simspeed_vs_O0", 8.0, "x the -O0 build",
          "the optimised, split build of the RDU tops (testbench/sim/build_profile.py) "
          "must pay for its longer compile in simulation speed"),
)}


@dataclass(frozen=True)
class FloorResult:
    """One figure against its floor; ``label`` tells apart checks of one floor (a sweep)."""

    name: str
    value: float
    floor: float
    unit: str
    why: str
    label: str = ""

    @property
    def passed(self) -> bool:
        return self.value >= self.floor

    @property
    def title(self) -> str:
        return f"{self.name} {self.label}".rstrip()

    def fields(self) -> dict:
        """What goes beside the figure in a part's data (the floor's unit may differ from
        the figure's: a fraction there, % here)."""
        return {"floor": self.floor, "floor_unit": self.unit, "passed": self.passed}

    def to_json(self) -> dict:
        return {"name": self.name, "label": self.label, "value": self.value,
                "floor": self.floor, "unit": self.unit, "passed": self.passed,
                "why": self.why}

    @classmethod
    def from_json(cls, data: dict) -> "FloorResult":
        return cls(data["name"], data["value"], data["floor"], data["unit"], data["why"],
                   data.get("label", ""))

    def verdict(self) -> str:
        """``floor 85 ok`` or ``floor 85 BELOW``, for a table cell."""
        return f"floor {self.floor:g} {'ok' if self.passed else 'BELOW'}"


def check(name: str, value: float, label: str = "") -> FloorResult:
    """``value`` (in the floor's unit) against floor ``name`` of :data:`FLOORS`."""
    floor = FLOORS[name]
    return FloorResult(name, float(value), floor.floor, floor.unit, floor.why, label)


def results_of(data: dict) -> list[FloorResult]:
    """The checks a part listed under ``data["floors"]`` (none if it has no floors)."""
    return [FloorResult.from_json(entry) for entry in data.get("floors", [])]


def summary(results: list[FloorResult]) -> str:
    """One line for all checks, then one per figure below its floor."""
    failed = [r for r in results if not r.passed]
    lines = [f"floors: {len(results) - len(failed)} of {len(results)} figures at or above "
             f"their floor"]
    lines += [f"  BELOW FLOOR {r.title}: {r.value:.4g} < {r.floor:g} {r.unit} ({r.why})"
              for r in failed]
    return "\n".join(lines)


def exit_status(results: list[FloorResult]) -> int:
    """0 when every figure is at or above its floor, else 1."""
    return 0 if all(r.passed for r in results) else 1
