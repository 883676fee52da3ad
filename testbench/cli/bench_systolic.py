"""Runs tiles through the PCU systolic body (RTL) and measures its utilisation.

:func:`run_systolic` packs (A, B) bf16 tiles into ``a``/``b`` beats, plays them
through ``SystolicArray`` under cocotb (the ``systolic_tiles`` test of
:mod:`testbench.cocotb_tests.systolic_tiles`, which checks every row of C against
the golden model as it arrives) and returns the C tiles and the cycle at which each tile
went in and came out. :func:`systolic_utilisation` is the figure behind
``rdu bench pcu``: useful MACs / (rows * cols * cycles) for back-to-back tiles
with no stalls.
"""

import numpy as np

from ..golden.systolic import systolic_tiles
from ..sim.build_cache import Design
from ..sim.packing import pack_beats, unpack_beats
from ..sim.runner import simulate

__all__ = ["systolic_design", "run_systolic", "ordinary_bf16", "systolic_utilisation"]

COCOTB_MODULE = "testbench.cocotb_tests.systolic_tiles"


def systolic_design(rows: int, cols: int) -> Design:
    # -O0: the 4x4 array's C++ took 94 s to compile at -O2, far more than its runs take.
    return Design(f"systolic_{rows}x{cols}", "pcu_pmu.pcu.systolic:make_systolic",
                  {"rows": rows, "cols": cols}, profile="quick")


def ordinary_bf16(rng, shape) -> np.ndarray:
    """bf16 bit patterns of signed normal values spread over a few binades."""
    values = rng.standard_normal(shape) * np.exp2(rng.integers(-4, 5, shape))
    return (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


def run_systolic(tiles, *, rows: int, cols: int, seed: int = 1, a_stall: float = 0.0,
                 b_stall: float = 0.0, c_stall: float = 0.0, waves: bool = False,
                 run_name: str | None = None, log=print) -> dict:
    """Stream ``tiles`` (list of (A rows x K, B K x cols) uint16) back to back through the RTL.

    Returns ``c`` (tiles x rows x cols uint32, checked bit-exact against the
    golden model inside the simulation), ``expected`` (the golden C), and cycle
    stamps (rising edges counted from the start): ``first_in`` (first a/b beat
    taken), ``last_in`` and ``first_out`` per tile, ``last_out`` (last row of
    the last tile taken) and ``cycles = last_out - first_in + 1``.
    """
    if not tiles:
        raise ValueError("run_systolic needs at least one tile")
    for a, b in tiles:
        if a.shape[0] != rows or b.shape[1] != cols or a.shape[1] != b.shape[0]:
            raise ValueError(f"tile A {a.shape} / B {b.shape} does not fit a {rows}x{cols} array")
    ks = np.array([a.shape[1] for a, _ in tiles], dtype=np.int64)
    if ks.min() < 1 or ks.max() >= 1 << 16:
        raise ValueError("every tile's K must be in [1, 65535]")
    expected = np.stack(systolic_tiles(tiles))
    a_flat = np.concatenate([a.T.reshape(-1) for a, _ in tiles])
    b_flat = np.concatenate([b.reshape(-1) for _, b in tiles])
    inputs = {
        "k": ks,
        "a": pack_beats([(a_flat, 16)], rows),
        "b": pack_beats([(b_flat, 16)], cols),
        "c": pack_beats([(expected.reshape(-1), 32)], cols),
    }
    result = simulate(
        systolic_design(rows, cols), COCOTB_MODULE, testcase="systolic_tiles",
        run_name=run_name or f"systolic_{rows}x{cols}_seed{seed}", seed=seed, waves=waves,
        log=log, inputs=inputs,
        args={"rows": rows, "cols": cols, "a_stall": a_stall, "b_stall": b_stall,
              "c_stall": c_stall},
    )
    out = result.outputs
    c = unpack_beats(out["c"], 32, cols).astype(np.uint32).reshape(len(tiles), rows, cols)
    stamps = {name: out[name].astype(np.int64) for name in ("last_in", "first_out")}
    first_in, last_out = int(out["first_in"]), int(out["last_out"])
    return {"c": c, "expected": expected, "first_in": first_in, "last_out": last_out,
            "cycles": last_out - first_in + 1, **stamps}


def systolic_utilisation(k_values=(16, 64, 256), rows: int = 4, cols: int = 4, tiles: int = 4,
                         seed: int = 1, log=print) -> list[dict]:
    """For each K: ``tiles`` tiles back to back with no stalls; cycles and MAC utilisation.

    The default 4x4 array is the one the tests build; an 8x8 array's Verilator
    build is far slower (its C++ is 12 MB: tens of CPU minutes on first use).

    ``cycles`` runs from the first a/b beat taken to the last row of C taken
    (so it includes filling the pipeline and draining the last tile);
    ``useful_macs = tiles * rows * cols * K``, ``peak_macs = rows * cols * cycles``.
    """
    rng = np.random.default_rng(seed)
    results = []
    for k in k_values:
        batch = [(ordinary_bf16(rng, (rows, k)), ordinary_bf16(rng, (k, cols)))
                 for _ in range(tiles)]
        run = run_systolic(batch, rows=rows, cols=cols, seed=seed,
                           run_name=f"bench_systolic_{rows}x{cols}_k{k}", log=log)
        if not np.array_equal(run["c"], run["expected"]):
            raise AssertionError(f"systolic {rows}x{cols} K={k}: C differs from the golden model")
        useful = tiles * rows * cols * k
        peak = rows * cols * run["cycles"]
        results.append({"k": k, "rows": rows, "cols": cols, "tiles": tiles,
                        "cycles": run["cycles"], "useful_macs": useful, "peak_macs": peak,
                        "utilisation": useful / peak,
                        "latency": int(run["first_out"][0] - run["last_in"][0])})
    return results
