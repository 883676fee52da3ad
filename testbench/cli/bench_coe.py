"""Benchmark of CoE expert switching: copy-engine time against bytes / DDR bandwidth, and the
switching-time ratio against a host-link baseline.

1. On the ``coe`` RDU, the copy engine moves blocks of several sizes DDR -> HBM in one
   simulation (each block read back and compared); cycles against the ideal
   ``bytes / DDR-tier peak`` (bytes per RDU cycle of the DDR4 tier model).
2. A CoE session of experts of realistic proportions (:data:`SESSION`: d_model 64, 4
   heads of 16, d_ff 128, a 197,120-byte weight image each, on the ``coe`` RDU with 1 MiB
   of HBM and 4 MiB of DDR): every Switch step's cycles against the same ideal.
3. Baseline: the same session with every switch fed from host memory over the host port,
   throttled to a link of 64 and 32 GB/s (``rdu coe run --switch-from host``); measured
   ratio = host-path switch cycles / DDR-path switch cycles, both from the RTL. Scaled:
   the model's DDR-tier peak stands for the SN40L paper's DDR -> HBM bandwidth of a node
   (about 1 TB/s), so a link runs at ``DDR peak x link / 1000`` bytes per cycle; the paper
   reports 15x and 31x. Next to it the modeled ratio ``(achieved / peak) x 1000 / link``
   from the largest single copy.
4. Experts sharded tensor-parallel across sockets (whole decoder layers split as
   :class:`~testbench.system.tp_decoder.TPDecoder` splits them: heads ``h % S == s``,
   feed-forward columns of ``w1``/``w3`` and rows of ``w2``, norms replicated;
   :mod:`testbench.coe.sharded`): the same short session on 1 and 2 sockets with memory
   tiers, every socket copying its shard at the same time and running its part of the
   layer, every socket's outputs checked bit-exactly; the switch cycles of both (the
   2-socket system also needs its own Verilator build).

Floor (:mod:`.bench_floors`): ``ddr_to_hbm_copy`` on the largest block of 1., the one
whose share of peak the modeled ratio of 3. uses.

The sessions of 2. and 3. and the sharded runs of 4. are independent simulations:
under ``rdu bench --scheduler``/``--cluster`` they run side by side on Dask workers
(:func:`~testbench.farm.sweep.sweep_map`).
"""

import argparse

import numpy as np

from hdl.rdu.config import rdu_params
from hdl.rdu.tier_params import ddr_peak_bytes_per_cycle
from testbench.compiler.transformer import DecoderShape
from testbench.farm.sweep import sweep_map
from testbench.runtime.host_script import HostScript

from .bench_floors import check
from .coe_cmd import (
    NODE_DDR_TO_HBM_GBPS,
    RUN_DEFAULTS,
    decoder_shape,
    experts_ready,
    host_link_rate,
    simulate_session,
)

__all__ = ["run_bench"]

SIZES = (1024, 4096, 16384)
#: the switching sessions' options over RUN_DEFAULTS: experts large enough that a switch
#: is long copies, as on the SN40L (the copy engine's share of peak grows with the size)
SESSION = {"experts": RUN_DEFAULTS["out"] / "bench" / "d64_experts", "make_experts": True,
           "count": 4, "d": 64, "heads": 4, "head_dim": 16, "f": 128, "cache_tokens": 8,
           "requests": 3, "slots": 1, "param": ["memory_bytes=1048576", "ddr_bytes=4194304"]}
HOST_LINKS_GBPS = (64.0, 32.0)
SHARDED_REQUESTS = 4
# Wider than the demo's experts: copies long enough to show the sockets copying at the
# same time; two heads, so each of 2 sockets runs one.
SHARDED_SHAPE = DecoderShape(d_model=16, heads=2, head_dim=4, d_ff=32, tokens=4)
SHARDED_EXPERTS = RUN_DEFAULTS["out"] / "bench" / "sharded_experts"


def _copy_cycles(log) -> list[dict]:
    config = rdu_params("coe")
    burst = config.copy_burst_bytes
    session = HostScript(config)
    rng = np.random.default_rng(1)
    blocks = []
    for size in SIZES:
        data = rng.integers(0, 1 << 32, size // 4, dtype=np.uint32)
        src = session.write(data, f"ddr block {size}", tier="ddr", align=burst)
        dst = session.allocate(size, f"hbm block {size}", align=burst)
        session.copy(src, dst, size, f"copy{size}")
        session.read(f"back{size}", dst, size // 4)
        blocks.append((size, data))
    log(f"coe: copy engine DDR -> HBM, blocks of {', '.join(map(str, SIZES))} bytes")
    result = session.run(run_name="bench_coe_copies")
    peak = ddr_peak_bytes_per_cycle(config)
    rows = []
    for size, data in blocks:
        if not np.array_equal(result[f"back{size}"], data):
            raise AssertionError(f"the {size}-byte copy did not arrive intact")
        cycles = int(result[f"copy{size}"][0])
        rows.append({"bytes": size, "cycles": cycles, "ideal_cycles": round(size / peak, 1),
                     "share_of_peak": size / peak / cycles})
    return rows


def _no_log(message: str) -> None:
    pass


def _session(overrides: dict, log=_no_log) -> dict:
    """The ``rdu coe run`` session with ``overrides`` (one sweep point)."""
    options = argparse.Namespace(**{**RUN_DEFAULTS, "out": RUN_DEFAULTS["out"] / "bench",
                                    **SESSION, **overrides})
    name = f"bench_coe_{options.switch_from}"
    if options.switch_from == "host":
        name += f"_{options.host_gbps:g}gbps"
        log(f"coe: the same session with switches from host memory over a "
            f"{options.host_gbps:g} GB/s link")
    else:
        log("coe: a CoE session for its switch steps (copy engine DDR -> HBM)")
    summary, _, ok = simulate_session(options, log, run_name=name)
    if not ok:
        raise AssertionError(f"the CoE session's results ({name}) differ from the golden model")
    return summary


def run_bench(log):
    copies = _copy_cycles(log)
    defaults = argparse.Namespace(**{**RUN_DEFAULTS, **SESSION})
    experts_ready(defaults, decoder_shape(defaults), log)  # once, before points run at once
    sessions = sweep_map(_session, [{}] + [{"switch_from": "host", "host_gbps": link}
                                           for link in HOST_LINKS_GBPS], log=log)
    summary = sessions[0]
    peak = ddr_peak_bytes_per_cycle(rdu_params("coe"))
    switch_bytes = summary["bytes"]["ddr_to_hbm"]
    switch_cycles = summary["cycles"]["switch"]
    session_share = switch_bytes / peak / switch_cycles if switch_cycles else 0.0
    share = copies[-1]["share_of_peak"]
    floor = check("ddr_to_hbm_copy", 100 * share,
                  label=f"{copies[-1]['bytes']} B on the coe RDU")
    copies[-1].update(floor.fields())
    modeled = {f"{link:g}GB/s": share * NODE_DDR_TO_HBM_GBPS / link for link in HOST_LINKS_GBPS}
    measured = {}
    for link, host in zip(HOST_LINKS_GBPS, sessions[1:], strict=True):
        if host["switches"] != summary["switches"]:
            raise AssertionError("the host-link session planned different switches")
        measured[f"{link:g}GB/s"] = {
            "link_bytes_per_cycle": host_link_rate(link), "switch_cycles": host["cycles"]["switch"],
            "ratio": host["cycles"]["switch"] / switch_cycles if switch_cycles else 0.0}
    sharded = _sharded(log)
    data = {"ddr_peak_bytes_per_cycle": peak, "copies": copies, "sharded": sharded,
            "session": {"switches": summary["switches"], "bytes": switch_bytes,
                        "cycles": switch_cycles, "share_of_peak": session_share},
            "node_ddr_to_hbm_gbps": NODE_DDR_TO_HBM_GBPS,
            "host_link_baseline_ratio": modeled,
            "host_link_measured": measured,
            "paper_ratio": {"64GB/s": 15, "32GB/s": 31},
            "floors": [floor.to_json()]}
    lines = [f"coe: copy engine DDR -> HBM (DDR tier peak {peak:.2f} B/cycle)"]
    lines += [f"  {r['bytes']:6d} B: {r['cycles']:5d} cycles, ideal {r['ideal_cycles']:7.1f} "
              f"({r['share_of_peak']:.0%} of peak)" for r in copies]
    lines[-1] += f", {floor.verdict()}"
    lines.append(f"  session: {summary['switches']} switches, {switch_bytes} B in "
                 f"{switch_cycles} cycles ({session_share:.0%} of peak; each switch is one "
                 f"{switch_bytes // max(summary['switches'], 1)}-byte expert)")
    lines.append(f"  switching time, host link / DDR->HBM (scaled: the DDR-tier peak stands for "
                 f"the paper's {NODE_DDR_TO_HBM_GBPS:g} GB/s node, a link gets DDR peak x "
                 f"link / {NODE_DDR_TO_HBM_GBPS:g}):")
    for name, entry in measured.items():
        lines.append(f"    {name} link ({entry['link_bytes_per_cycle']:.3f} B/cycle): measured "
                     f"{entry['ratio']:.1f}x ({entry['switch_cycles']} vs {switch_cycles} "
                     f"switch cycles, both sessions simulated), modeled "
                     f"{modeled[name]:.1f}x (largest copy's share of peak x bandwidth ratio), "
                     f"paper {data['paper_ratio'][name]}x")
    lines.append(f"  experts sharded across sockets ({SHARDED_REQUESTS} requests, 1 HBM slot, "
                 f"all measured): switch cycles " + ", ".join(
                     f"{r['sockets']} socket{'s' * (r['sockets'] > 1)} {r['switch_cycles']} "
                     f"(slowest engine per switch {r['engine_cycles']}; decoder layer per "
                     f"run {r['layer_cycles']} cycles)"
                     for r in sharded))
    return data, "\n".join(lines)


def _sharded(log) -> list[dict]:
    """Switch cycles of the same sharded session on 1 and 2 sockets with memory tiers."""
    from ..coe.experts import make_experts

    make_experts(SHARDED_EXPERTS, 4, SHARDED_SHAPE, seed=RUN_DEFAULTS["expert_seed"])
    return sweep_map(_sharded_point, [1, 2], log=log)


def _sharded_point(sockets: int, log=_no_log) -> dict:
    from hdl.system.config import SystemParams

    from ..coe.sharded import run_sharded_session

    log(f"coe: experts sharded across {sockets} socket(s), {SHARDED_REQUESTS} requests")
    run = run_sharded_session(SystemParams(sockets=sockets, rdu=rdu_params("coe")),
                              SHARDED_EXPERTS, shape=SHARDED_SHAPE, requests=SHARDED_REQUESTS,
                              slots=1, max_tokens=RUN_DEFAULTS["max_tokens"],
                              run_name=f"bench_coe_sharded_{sockets}", log=log,
                              profile="quick")  # short runs: the quick build pays back
    if run.mismatches:
        raise AssertionError(f"the sharded session on {sockets} socket(s) differs from the "
                             f"golden model: {run.mismatches}")
    layer = [c for i, c in run.phase_cycles.items() if i not in run.engine_cycles]
    return {"sockets": sockets, "switches": len(run.engine_cycles),
            "switch_cycles": run.switch_cycles, "layer_cycles": layer,
            "engine_cycles": [max(c) for c in run.engine_cycles.values()]}
