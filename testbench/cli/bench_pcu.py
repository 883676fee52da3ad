"""Benchmark of the PCU's systolic body: GEMM utilisation for K = 16, 64 and 256.

Utilisation = useful multiply-accumulates / (rows x cols x cycles), cycles
counted in the RTL from the first A/B beat taken to the last row of C taken,
for several tiles back to back (results checked against the golden model).
Floor (:mod:`.bench_floors`): ``systolic_k256``, the utilisation at K = 256.
"""

from .bench_floors import check
from .bench_systolic import systolic_utilisation

ROWS = COLS = 4
FLOOR_K = 256


def run_bench(log):
    rows = systolic_utilisation((16, 64, FLOOR_K), rows=ROWS, cols=COLS, log=log)
    floors = []
    for row in rows:
        if row["k"] == FLOOR_K:
            result = check("systolic_k256", 100 * row["utilisation"])
            row.update(result.fields())
            floors.append(result)
    data = {"array": f"{ROWS}x{COLS}", "gemm": rows, "floors": [r.to_json() for r in floors]}
    lines = [f"pcu: systolic array {ROWS}x{COLS}, 4 tiles back to back, no stalls",
             f"  {'K':>5} {'cycles':>8} {'useful MACs':>12} {'peak MACs':>10} {'utilisation':>12}"]
    for r in rows:
        line = (f"  {r['k']:5d} {r['cycles']:8d} {r['useful_macs']:12d} {r['peak_macs']:10d} "
                f"{100 * r['utilisation']:11.1f}%")
        if "floor" in r:
            line += f"  {floors[0].verdict()}"
        lines.append(line)
    return data, "\n".join(lines)
