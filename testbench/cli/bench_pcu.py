"""Benchmark of the PCU's systolic body: GEMM utilisation for K = 16, 64 and 256.

Utilisation = useful multiply-accumulates / (rows x cols x cycles), cycles
counted in the RTL from the first A/B beat taken to the last row of C taken,
for several tiles back to back (results checked against the golden model).
"""

from ..bench_systolic import systolic_utilisation

ROWS = COLS = 4


def run_bench(log):
    rows = systolic_utilisation((16, 64, 256), rows=ROWS, cols=COLS, log=log)
    data = {"array": f"{ROWS}x{COLS}", "gemm": rows}
    lines = [f"pcu: systolic array {ROWS}x{COLS}, 4 tiles back to back, no stalls",
             f"  {'K':>5} {'cycles':>8} {'useful MACs':>12} {'peak MACs':>10} {'utilisation':>12}"]
    lines += [f"  {r['k']:5d} {r['cycles']:8d} {r['useful_macs']:12d} {r['peak_macs']:10d} "
              f"{100 * r['utilisation']:11.1f}%" for r in rows]
    return data, "\n".join(lines)
