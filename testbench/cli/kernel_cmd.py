"""``rdu kernel NAME``: compile one named graph, run it on the RDU top, check it bit-exactly.

The kernel compiler (testbench/compiler) places the graph on the preset's PCUs
and PMUs, the runtime writes the inputs into device memory, launches the
kernels and reads the output back, and the NumPy golden model of the graph
checks every bit. Exit status 1 on any mismatch, 2 on a compile error.

Kernels: gemm, swiglu (``silu(x @ w1) * (x @ w3)``) take --m --k --n; add, sub,
mul, max, min, exp, reciprocal, rsqrt, silu, gelu, to_bf16, row_sum, row_max,
softmax, rmsnorm, layernorm take --rows --cols (row reductions produce ``[rows, 1]``;
the operation orders of softmax, rmsnorm and layernorm are in
testbench/compiler/library.py).

attention (decode attention of one token against a K/V cache) and decoder (a
Llama-style decoder layer decoding one token) take --d-model --heads --head-dim
--d-ff --tokens (tokens: cached positions); their operation orders are in
testbench/compiler/transformer.py.

Arrays (--inputs / --outputs .npz): ``a``, ``b`` (gemm: bf16 [m,k], [k,n]; binary
ops: fp32 [rows,cols]); ``x`` (unary ops, reductions, softmax, rmsnorm, layernorm:
fp32 [rows,cols]; swiglu: bf16 [m,k]); ``w1``, ``w3`` (swiglu: bf16 [k,n]); ``gamma``
(rmsnorm, layernorm: fp32 [1,cols]), ``beta`` (layernorm: fp32 [1,cols]). Random
inputs mix in hard binary32 values (NaN, inf, subnormals, extremes): half of them,
2% for softmax/rmsnorm/layernorm (one NaN or inf makes its whole row NaN). fp32
arrays may be float32 or uint32 bit patterns, bf16 arrays are uint16 bit patterns.
--outputs writes the inputs plus ``out`` (what the RDU computed) and ``golden`` (the
golden model), as bit patterns (uint32 for fp32, uint16 for bf16).
attention: ``q`` (fp32 [1,head_dim]), ``k_new``, ``v_new`` (bf16 [1,head_dim]),
``k_cache_t`` (bf16 [head_dim,tokens]: keys transposed), ``v_cache`` (bf16
[tokens,head_dim]). decoder: ``x`` (fp32 [1,d_model]); ``attn_norm``, ``ffn_norm`` (fp32
[1,d_model]); per head h: ``wq<h>``, ``wk<h>``, ``wv<h>`` (bf16 [d_model,head_dim]),
``wo<h>`` (bf16 [head_dim,d_model]), ``k_cache<h>`` (bf16 [head_dim,tokens]),
``v_cache<h>`` (bf16 [tokens,head_dim]); ``w1``, ``w3`` (bf16 [d_model,d_ff]), ``w2``
(bf16 [d_ff,d_model]). The rotated weights ``wq<h>_rot``, ``wk<h>_rot`` and the rotary
tables ``cos``, ``sin`` (position = tokens) are derived, not read. Its outputs: ``out``
and the cache entries ``k<h>_new``, ``v<h>_new`` (bf16 [1,head_dim]); --outputs writes
each, and ``golden_<name>`` beside ``golden`` (of ``out``).
"""

import zipfile
import zlib

import numpy as np

from hdl.rdu.config import PRESETS, rdu_params

from .output import CommandError, emit, progress


def register(sub):
    from ..compiler import MODES
    from ..compiler.library import KERNEL_NAMES

    p = sub.add_parser("kernel", help="compile and run one kernel graph, check it bit-exactly",
                       description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("name", choices=KERNEL_NAMES, metavar="NAME",
                   help=f"kernel: {', '.join(KERNEL_NAMES)}")
    p.add_argument("--m", type=int, default=4, help="gemm/swiglu: rows of A / x")
    p.add_argument("--k", type=int, default=8, help="gemm/swiglu: inner dimension")
    p.add_argument("--n", type=int, default=4, help="gemm/swiglu: columns of B / w1, w3")
    p.add_argument("--rows", type=int, default=4, help="other kernels: rows")
    p.add_argument("--cols", type=int, default=4, help="other kernels: columns")
    p.add_argument("--d-model", type=int, default=8, help="decoder: model width")
    p.add_argument("--heads", type=int, default=1, help="decoder: attention heads")
    p.add_argument("--head-dim", type=int, default=8, help="attention/decoder: head width")
    p.add_argument("--d-ff", type=int, default=16, help="decoder: feed-forward width")
    p.add_argument("--tokens", type=int, default=5,
                   help="attention/decoder: tokens already in the K/V cache")
    p.add_argument("--seed", type=int, default=1, help="random inputs and stalls")
    p.add_argument("--inputs", metavar="FILE.npz", help="input arrays (names above)")
    p.add_argument("--outputs", metavar="FILE.npz", help="write inputs, out and golden here")
    p.add_argument("--mode", choices=MODES, default="unfused",
                   help="unfused: a kernel per primitive; fused: PCU chains per kernel; "
                        "spatial: fused, and where it fits a GEMM streams into its row "
                        "reduction through a PMU, or takes its A operand made on chip")
    p.add_argument("--orchestration", choices=("software", "hardware"), default="software")
    p.add_argument("--preset", default="small", help=f"RDU preset ({', '.join(PRESETS)})")
    p.add_argument("--waves", action="store_true", help="write an FST waveform")
    p.set_defaults(run=run)
    return p


def decoder_shape(args):
    """The DecoderShape of the --d-model --heads --head-dim --d-ff --tokens options."""
    from ..compiler.transformer import DecoderShape

    return DecoderShape(d_model=args.d_model, heads=args.heads, head_dim=args.head_dim,
                        d_ff=args.d_ff, tokens=args.tokens)


def _derived(graph) -> set:
    """Inputs a decoder graph derives from the others (not read from --inputs)."""
    return {name for name in graph.inputs if name.endswith("_rot") or name in ("cos", "sin")}


# What reading a damaged archive or member raises: NumPy's format errors (a bad header, an
# object array), data that ends early, the zip layer (a bad CRC) and the deflate layer.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _one_line(error: Exception) -> str:
    """The error's message on one line (or its type's name if it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def _open_npz(path: str):
    """``np.load`` of an .npz archive (its members are read, and CRC-checked, on access);
    a file that is missing, not an archive, truncated or an .npy array is a CommandError."""
    try:
        with open(path, "rb") as file:
            head = file.read(6)
    except OSError as error:
        raise CommandError(f"--inputs {path}: {_one_line(error)}") from None
    if head.startswith(b"\x93NUMPY"):
        raise CommandError(f"--inputs {path}: a single .npy array, not an .npz archive of "
                           f"named arrays (numpy.savez writes one)")
    if not head.startswith(b"PK"):
        raise CommandError(f"--inputs {path}: not an .npz archive (no zip signature at its "
                           f"start; numpy.savez writes one)")
    try:
        return np.load(path, allow_pickle=False)
    except _UNREADABLE as error:
        raise CommandError(f"--inputs {path}: damaged .npz archive: "
                           f"{_one_line(error)}") from None


def _inputs(graph, args, rng) -> dict:
    from ..compiler.library import hard_fraction, random_inputs
    from ..compiler.transformer import derived_inputs

    if not args.inputs:
        inputs = random_inputs(graph, rng, hard_fraction(args.name))
        return derived_inputs(graph, inputs, decoder_shape(args))
    inputs = {}
    derived = _derived(graph)
    with _open_npz(args.inputs) as given:
        for name in graph.inputs:
            if name in derived:
                continue
            t = graph.tensors[name]
            if name not in given:
                raise CommandError(f"--inputs {args.inputs}: no array {name!r} (needs "
                                   f"{', '.join(graph.inputs)})")
            try:
                array = np.asarray(given[name])
            except _UNREADABLE as error:
                raise CommandError(f"--inputs {args.inputs}: array {name!r} cannot be read: "
                                   f"{_one_line(error)}") from None
            if tuple(array.shape) != t.shape:
                raise CommandError(f"--inputs: {name} has shape {list(array.shape)}, the "
                                   f"graph needs {list(t.shape)}")
            want = np.uint16 if t.dtype == "bf16" else np.uint32
            if array.dtype.kind not in "uif" or array.dtype.itemsize != np.dtype(want).itemsize:
                raise CommandError(
                    f"--inputs: {name} is {array.dtype}; {t.dtype} needs "
                    f"{'uint16 bits' if t.dtype == 'bf16' else 'float32 or uint32'}")
            inputs[name] = np.ascontiguousarray(array).view(want)
    if derived:
        inputs = derived_inputs(graph, {**inputs, **dict.fromkeys(derived)},
                                decoder_shape(args))
    return inputs


def run(args):
    from ..compiler import CompileError, compile_graph, evaluate, run_compiled
    from ..compiler.library import kernel_graph

    try:
        config = rdu_params(args.preset)
        graph = kernel_graph(args.name, rows=args.rows, cols=args.cols, m=args.m, k=args.k,
                             n=args.n, decoder=decoder_shape(args))
        compiled = compile_graph(graph, config, args.mode)
    except (CompileError, ValueError) as error:
        raise CommandError(str(error)) from None
    rng = np.random.default_rng(args.seed)
    inputs = _inputs(graph, args, rng)
    values = evaluate(graph, inputs, config.lanes, config.pmu_depth)
    golden = values["out"]
    progress(args, f"{args.name}: {len(compiled.kernels)} kernel launch(es) on the {args.preset} "
                   f"RDU ({args.mode}, {args.orchestration}-orchestrated); simulating")
    report = run_compiled(compiled, inputs, orchestration=args.orchestration,
                          run_name=f"rdu_kernel_{args.name}_{args.mode}", seed=args.seed,
                          waves=args.waves)
    tier = "hbm" if config.memory == "tiers" else "sram"
    out = report.outputs["out"]
    mismatches = sum(int(np.count_nonzero(report.outputs[name] != values[name]))
                     for name in graph.outputs)
    words = sum(int(values[name].size) for name in graph.outputs)
    if args.outputs:
        extra = {name: report.outputs[name] for name in graph.outputs if name != "out"}
        extra.update({f"golden_{name}": values[name] for name in graph.outputs
                      if name != "out"})
        np.savez(args.outputs, **inputs, out=out, golden=golden, **extra)
    data = {"kernel": args.name, "preset": args.preset, "mode": args.mode,
            "orchestration": args.orchestration, "seed": args.seed,
            "shape": list(graph.tensors["out"].shape), "cycles": report.cycles,
            "kernel_cycles": report.kernel_cycles, "launches": report.launches,
            "bytes_moved": report.bytes_moved, "words": words,
            "mismatches": mismatches, "passed": mismatches == 0,
            "kernels": [k.name for k in compiled.kernels],
            "memory_tier": tier, "bytes_by_tier": {tier: report.bytes_moved},
            "units": [{"unit": i, "kind": kind, "busy": int(c[0]),
                       "input_stall": int(c[1]), "output_stall": int(c[2]),
                       "utilisation": round(float(u), 4)}
                      for i, ((kind, _), c, u) in enumerate(zip(
                          config.units(), report.unit_cycles, report.utilisation(),
                          strict=True))]}
    verdict = "bit-exact" if mismatches == 0 else f"{mismatches} of {words} MISMATCH"
    text = (f"{args.name} {list(graph.tensors['out'].shape)} on the {args.preset} RDU, "
            f"{args.mode}, {args.orchestration}-orchestrated\n"
            f"  cycles:            {report.cycles}\n"
            f"  kernel launches:   {report.launches}\n"
            f"  device-memory I/O: {report.bytes_moved} bytes "
            f"({'HBM tier' if tier == 'hbm' else 'on-chip SRAM'})\n"
            f"  utilisation:       {_utilisation(config, report)}\n"
            f"  golden model:      {verdict}")
    emit(args, data, text)
    return 0 if mismatches == 0 else 1


def _utilisation(config, report) -> str:
    """Mean busy share of the run's cycles per unit kind, e.g. ``PCU 41%, PMU 12%``."""
    kinds = [kind for kind, _ in config.units()]
    shares = report.utilisation()
    return ", ".join(f"{kind.upper()} {100 * np.mean(shares[[k == kind for k in kinds]]):.0f}%"
                     for kind in sorted(set(kinds)))
