"""``rdu testfloat OP [FILE]``: run Berkeley TestFloat vectors through the RTL.

Input is ``testfloat_gen`` output, one vector per line, hexadecimal fields
separated by blanks: the operands, the expected result, then the exception
flags (read but ignored). Binary operations: ``A B RESULT [FLAGS]``; ``f32_to_bf16``:
``A RESULT [FLAGS]``. binary32 fields are 8 hex digits, bfloat16 fields 4 (so
``bf16_mul_f32`` reads ``AAAA BBBB RRRRRRRR [FLAGS]``: two bf16 operands, the
binary32 product), comparison results are ``0`` or ``1``. Blank lines and lines
starting with ``#`` are skipped. As in TestFloat without ``-checkNaNs``, a NaN
result matches any expected NaN (the RTL always returns 0x7FC00000).
"""

import sys
from pathlib import Path

import numpy as np

from .numerics_ops import NUMERIC_OPS, run_on_rtl
from .output import CommandError, emit, progress

REQUIRED_OPS = ["f32_add", "f32_sub", "f32_mul", "f32_lt", "f32_le", "f32_eq", "bf16_mul_f32",
                "f32_to_bf16"]


def register(sub):
    p = sub.add_parser("testfloat", help="run TestFloat-format vectors through the RTL",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("op", help=f"operation: {', '.join(sorted(NUMERIC_OPS))}")
    p.add_argument("file", nargs="?", type=Path, help="vector file (default: standard input)")
    p.add_argument("--lanes", type=int, default=8, help="units side by side (default 8)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random stalls")
    p.add_argument("--stall", type=float, default=0.0,
                   help="probability of a stall on each side of the stream (default 0)")
    p.add_argument("--max-report", type=int, default=20, help="mismatches to list")
    p.set_defaults(run=run)
    return p


def _field_width(op_name, op, index, arity):
    if index < arity:
        return op.operand_bits
    if op.unit == "fp32_compare" and op_name not in ("f32_max", "f32_min"):
        return 1
    return op.result_bits


def parse_vectors(op_name: str, lines, source: str = "<stdin>"):
    """Parse TestFloat lines; return (line numbers, operand arrays, expected results)."""
    op = NUMERIC_OPS[op_name]
    arity = op.arity
    numbers, rows = [], []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) not in (arity + 1, arity + 2):
            shape = " ".join(["A", "B"][:arity]) + " RESULT [FLAGS]"
            raise CommandError(f"{source}:{number}: expected '{shape}' for {op_name}, "
                               f"got {len(fields)} field(s): {line[:80]!r}")
        values = []
        for index, text in enumerate(fields[:arity + 1]):
            bits = _field_width(op_name, op, index, arity)
            try:
                value = int(text, 16)
            except ValueError:
                raise CommandError(f"{source}:{number}: field {index + 1} {text!r} is not "
                                   "hexadecimal") from None
            if value >> bits:
                raise CommandError(f"{source}:{number}: field {index + 1} {text!r} does not fit "
                                   f"in {bits} bits for {op_name}")
            values.append(value)
        if len(fields) == arity + 2:
            try:
                int(fields[-1], 16)
            except ValueError:
                raise CommandError(f"{source}:{number}: flags {fields[-1]!r} are not "
                                   "hexadecimal") from None
        numbers.append(number)
        rows.append(values)
    if not rows:
        raise CommandError(f"{source}: no vectors found")
    table = np.array(rows, dtype=np.uint64)
    return numbers, [table[:, k] for k in range(arity)], table[:, arity]


def _is_nan(values, bits):
    if bits == 32:
        return ((values & 0x7F800000) == 0x7F800000) & ((values & 0x7FFFFF) != 0)
    if bits == 16:
        return ((values & 0x7F80) == 0x7F80) & ((values & 0x7F) != 0)
    return np.zeros(values.shape, dtype=bool)


def run(args):
    if args.op not in NUMERIC_OPS:
        raise CommandError(f"unknown op {args.op!r}; known: {', '.join(sorted(NUMERIC_OPS))}")
    if args.lanes < 1:
        raise CommandError("--lanes must be at least 1")
    if not 0.0 <= args.stall < 1.0:
        raise CommandError("--stall must be in [0, 1)")
    source = str(args.file) if args.file else "<stdin>"
    try:
        text = args.file.read_text() if args.file else sys.stdin.read()
    except OSError as error:
        raise CommandError(f"cannot read {source}: {error.strerror}") from None
    numbers, operands, expected = parse_vectors(args.op, text.splitlines(), source)
    op = NUMERIC_OPS[args.op]
    progress(args, f"{args.op}: {len(numbers)} vectors through {args.lanes} lanes of {op.unit}")
    got, cycles = run_on_rtl(args.op, operands, lanes=args.lanes, seed=args.seed,
                             in_stall=args.stall, out_stall=args.stall,
                             log=lambda m: progress(args, m), run_name=f"testfloat_{args.op}")
    bits = op.result_bits
    both_nan = _is_nan(expected, bits) & _is_nan(got, bits)
    bad = np.nonzero((got != expected) & ~both_nan)[0]
    digits = op.operand_bits // 4
    mismatches = [{"line": numbers[i],
                   "operands": [f"{int(x[i]):0{digits}X}" for x in operands],
                   "expected": f"{int(expected[i]):X}", "got": f"{int(got[i]):X}"}
                  for i in bad]
    data = {"op": args.op, "unit": op.unit, "vectors": len(numbers), "cycles": cycles,
            "mismatch_count": len(mismatches), "mismatches": mismatches[:args.max_report],
            "passed": not mismatches}
    lines = [f"{args.op}: {len(numbers)} vectors, {len(mismatches)} mismatches "
             f"({op.unit} x{args.lanes}, {cycles} cycles)"]
    for m in mismatches[:args.max_report]:
        lines.append(f"  {source}:{m['line']}: {' '.join(m['operands'])} "
                     f"expected {m['expected']} got {m['got']}")
    emit(args, data, "\n".join(lines))
    return 0 if not mismatches else 1
