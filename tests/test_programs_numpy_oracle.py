"""The hand-built programs' expectations against plain NumPy of what each program claims.

Each :data:`testbench.programs.catalog.KERNELS` entry returns ``expected`` from the
PCU golden model run on the program's own configuration; the RTL is compared with
it bit for bit elsewhere (tests/test_rdu_programs.py). Here that expectation is
checked, without RTL, against NumPy binary32 arithmetic of the program's claim,
written from the program's docstring and not from the golden model:

* vector_add: ``a + b`` (one binary32 addition; the PCU's ``(-0 + a) + b`` is the
  same since ``-0`` is the adder's identity).
* gemm: ``A @ B`` of bf16 A and B, each product rounded once to binary32 and added
  in k order from +0.0. The order matters in binary32, and NumPy's ``@`` does not
  fix one, so the oracle is an explicit loop over k in np.float32.
* reduce_sum / reduce_max: lane 0 of each beat holds the lanes' sum over the pairwise
  tree ``(0, 1), (2, 3), ...`` (pcu_pmu/pcu/reduction_tree.py; again an explicit
  np.float32 order) or their maximum (order-free: -0 < +0, any NaN gives NaN);
  the other lanes are zero.
* row_broadcast: ``x - s[row]`` with the row's scalar from lane 0 of its beat.

The project's float conventions (testbench/golden/numerics.py): round to nearest
even, subnormals kept, every NaN result the canonical 0x7FC00000. Random inputs come
from the catalog (hard binary32 values: NaNs, infinities, subnormals, ties); hand
cases with literal expected words pin the orders and the special values.
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from pcu_pmu.pcu.config import ReduceOp
from testbench.programs.catalog import KERNELS, vector_add
from testbench.programs.gemm import gemm_golden, pack_tiles
from testbench.programs.lane_reduction import reduction_golden
from testbench.programs.pmu_reorder import reorder_golden
from testbench.programs.row_broadcast import broadcast_golden
from testbench.programs.stage_credits import credit_golden
from testbench.programs.vector_add import vector_add_golden
from testbench.runtime.host_script import HostScript

SMALL = rdu_params("small")
SEEDS = list(range(8))  # conftest parametrizes `seed` over these (or --seed)
CANONICAL_NAN = np.uint32(0x7FC00000)


def _f32(bits) -> np.ndarray:
    return np.asarray(bits, np.uint32).view(np.float32)


def _bits(values) -> np.ndarray:
    """binary32 bit patterns of float32 ``values``, every NaN the canonical one."""
    values = np.asarray(values, np.float32)
    return np.where(np.isnan(values), CANONICAL_NAN, values.view(np.uint32)).astype(np.uint32)


class _RecordingScript(HostScript):
    """A script that also keeps a copy of every array written into device memory."""

    def __init__(self, config):
        super().__init__(config)
        self.written: list[np.ndarray] = []

    def write(self, array, *args, **kwargs) -> int:
        self.written.append(np.array(array, copy=True))
        return super().write(array, *args, **kwargs)


def _assert_words(got, want, what):
    got, want = np.asarray(got, np.uint32).reshape(-1), np.asarray(want, np.uint32).reshape(-1)
    assert got.shape == want.shape, f"{what}: {got.shape} words, NumPy gives {want.shape}"
    differ = np.flatnonzero(got != want)
    assert differ.size == 0, (f"{what}: {differ.size} of {want.size} words differ, first at "
                              f"{differ[0]}: golden {got[differ[0]]:#010x}, NumPy "
                              f"{want[differ[0]]:#010x}")


# ---- the oracles ------------------------------------------------------------------------

def numpy_add(a, b) -> np.ndarray:
    """``a + b`` in binary32."""
    with np.errstate(all="ignore"):
        return _bits(_f32(a) + _f32(b))


def numpy_sub(x, s) -> np.ndarray:
    """``x - s`` in binary32 (``s`` broadcast)."""
    with np.errstate(all="ignore"):
        return _bits(_f32(x) - _f32(s))


def numpy_gemm_k_order(a_bf16, b_bf16) -> np.ndarray:
    """``A @ B`` (rows x K, K x cols bf16 bits): c = +0, then c += a[:, k] * b[k, :] for
    k = 0 .. K-1, each product and each sum one np.float32 operation."""
    a = (np.asarray(a_bf16, np.uint32) << 16).view(np.float32)
    b = (np.asarray(b_bf16, np.uint32) << 16).view(np.float32)
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    with np.errstate(all="ignore"):
        for k in range(a.shape[1]):
            c = c + a[:, k, None] * b[None, k, :]
    return _bits(c)


def numpy_tree_sum(x) -> np.ndarray:
    """Per row of ``x`` (n x lanes bits): lanes summed pairwise, (0,1), (2,3), ... per level."""
    v = _f32(x)
    with np.errstate(all="ignore"):
        while v.shape[1] > 1:
            v = v[:, 0::2] + v[:, 1::2]
    return _bits(v[:, 0])


def numpy_max(x) -> np.ndarray:
    """Per row of ``x`` (n x lanes bits): the maximum, NaN if any lane is, -0 < +0."""
    x = np.asarray(x, np.uint32)
    with np.errstate(invalid="ignore"):  # signalling NaNs quieten on the cast
        values = _f32(x).astype(np.float64)
    out = []
    for row_bits, row in zip(x, values, strict=True):
        if np.isnan(row).any():
            out.append(CANONICAL_NAN)
        elif row.max() == 0:
            out.append(np.uint32(0) if (row_bits == 0).any() else np.uint32(0x80000000))
        else:
            out.append(np.float32(row.max()).view(np.uint32))
    return np.array(out, np.uint32)


# ---- the catalog's kernels on their own random inputs -------------------------------------

def _prepare(name, seed, config=SMALL, **kwargs):
    """The catalog kernel's PreparedKernel and the input arrays it wrote, in order."""
    script = _RecordingScript(config)
    rng = np.random.default_rng(seed)
    prepared = (KERNELS[name] if not kwargs else vector_add)(script, rng, **kwargs)
    return prepared, script.written


def test_vector_add_is_numpy_add(seed):
    prepared, (a, b) = _prepare("vector_add", seed)
    _assert_words(prepared.expected, numpy_add(a, b), "vector_add")


def test_vector_add_on_two_pcus_is_numpy_add(seed):
    prepared, (a, b) = _prepare("vector_add", seed, rdu_params("tile2x2"), units=2)
    _assert_words(prepared.expected, numpy_add(a, b), "vector_add on two PCUs")


def test_gemm_is_numpy_matmul_in_k_order(seed):
    prepared, (packed,) = _prepare("gemm", seed)
    lanes = SMALL.lanes
    k = 8  # the catalog's gemm: K = 8, two tiles
    tiles = packed.shape[0] // k
    assert packed.shape == (tiles * k, lanes) and tiles == 2
    # lane i of vector t*K + k: a[t][i][k] in bits 0-15, b[t][k][i] in bits 16-31
    blocks = np.asarray(packed, np.uint32).reshape(tiles, k, lanes)
    want = np.concatenate([numpy_gemm_k_order((blk & 0xFFFF).T, blk >> 16) for blk in blocks])
    _assert_words(prepared.expected, want, "gemm")


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_max"])
def test_lane_reduction_is_numpy_reduction(name, seed):
    prepared, (x,) = _prepare(name, seed)
    x = np.asarray(x, np.uint32).reshape(-1, SMALL.lanes)
    want = np.zeros_like(x)
    want[:, 0] = numpy_tree_sum(x) if name == "reduce_sum" else numpy_max(x)
    _assert_words(prepared.expected, want, name)


def test_row_broadcast_is_numpy_row_subtract(seed):
    prepared, (x, s_beats) = _prepare("row_broadcast", seed)
    rows = s_beats.shape[0]
    x = np.asarray(x, np.uint32).reshape(rows, -1, SMALL.lanes)  # rows x row_beats x lanes
    want = numpy_sub(x, np.asarray(s_beats, np.uint32)[:, 0, None, None])
    _assert_words(prepared.expected, want, "row_broadcast")


def test_every_catalog_kernel_has_an_oracle_here():
    assert sorted(KERNELS) == ["gemm", "reduce_max", "reduce_sum", "row_broadcast",
                               "vector_add"]


# ---- hand cases: literal words ------------------------------------------------------------

def test_vector_add_hand_cases():
    pairs = [  # a, b, a + b
        (0x3F800000, 0x33800000, 0x3F800000),  # 1 + 2^-24: tie, to even (1)
        (0x3F800000, 0x34400000, 0x3F800002),  # 1 + 1.5 ulp: tie, to even (1 + 2 ulp)
        (0x00000000, 0x80000000, 0x00000000),  # +0 + -0 = +0
        (0x80000000, 0x80000000, 0x80000000),  # -0 + -0 = -0
        (0xBF800000, 0x3F800000, 0x00000000),  # -1 + 1 = +0
        (0x7F800000, 0xFF800000, 0x7FC00000),  # inf - inf: canonical NaN
        (0x7F800001, 0x3F800000, 0x7FC00000),  # signalling NaN in: canonical NaN
        (0xFFC00123, 0x00000000, 0x7FC00000),  # negative NaN with payload: canonical
        (0x7F7FFFFF, 0x7F7FFFFF, 0x7F800000),  # largest finite twice: +inf
        (0x00000001, 0x00000001, 0x00000002),  # subnormals kept
        (0x00800000, 0x80000001, 0x007FFFFF),  # normal minus subnormal: subnormal result
        (0xFF7FFFFF, 0x73000000, 0xFF7FFFFE),  # -max + half an ulp (2^103): tie, to even
    ]
    a, b, want = (np.array(column, np.uint32).reshape(-1, SMALL.lanes)
                  for column in zip(*pairs, strict=True))
    _assert_words(vector_add_golden(SMALL, a, b, units=1), want, "vector_add hand cases")
    _assert_words(numpy_add(a, b), want, "the NumPy oracle on the hand cases")


ONE, BIG, MAX_BF16, INF_BF16 = 0x3F80, 0x4B80, 0x7F7F, 0x7F80  # 1, 2^24, max finite, inf
GEMM_A = np.array([[ONE, BIG, BIG | 0x8000, 0x0000],     # 1, 2^24, -2^24, 0
                   [0x8000, 0x8000, 0x8000, 0x8000],     # -0 everywhere
                   [MAX_BF16, MAX_BF16, 0x0000, 0x0000],
                   [INF_BF16, 0x0000, 0x0000, 0x0000]], np.uint16)
GEMM_B = np.array([[ONE, 0x0000, ONE, ONE | 0x8000],     # columns: 1s, +0s, e0, -1s
                   [ONE, 0x0000, 0x0000, ONE | 0x8000],
                   [ONE, 0x0000, 0x0000, ONE | 0x8000],
                   [ONE, 0x0000, 0x0000, ONE | 0x8000]], np.uint16)
GEMM_C = np.array([
    # ((1 + 2^24) -> 2^24 (tie, even)) - 2^24 = +0; the exact sum is 1
    [0x00000000, 0x00000000, 0x3F800000, 0x00000000],
    # every product -0 and the accumulator starts at +0: +0 (from -0 it would stay -0)
    [0x00000000, 0x00000000, 0x00000000, 0x00000000],
    # max + max overflows to +-inf; max * 1 alone is max_bf16 exactly
    [0x7F800000, 0x00000000, 0x7F7F0000, 0xFF800000],
    # inf * 1 = inf, inf * 0 = NaN (canonical), inf * -1 = -inf
    [0x7F800000, 0x7FC00000, 0x7F800000, 0xFF800000],
], np.uint32)


def test_gemm_hand_case_pins_the_k_order():
    k = GEMM_A.shape[1]
    packed = pack_tiles(GEMM_A[None], GEMM_B[None])
    _assert_words(gemm_golden(SMALL, packed, k, 1), GEMM_C, "gemm hand case")
    _assert_words(numpy_gemm_k_order(GEMM_A, GEMM_B), GEMM_C, "the NumPy oracle")
    # the case depends on the order: from k = K-1 down, C[0][0] would be 1.0
    reverse = numpy_gemm_k_order(GEMM_A[:, ::-1], GEMM_B[::-1, :])
    assert reverse[0, 0] == 0x3F800000


REDUCE_X = np.array([
    [0x4B800000, 0x00000000, 0x3F800000, 0x3F800000],  # 2^24, 0, 1, 1
    [0x3F800000, 0x4B800000, 0x3F800000, 0x00000000],  # 1, 2^24, 1, 0
    [0x80000000, 0x80000000, 0x80000000, 0x80000000],  # -0 x 4
    [0x7F800000, 0xFF800000, 0x3F800000, 0x3F800000],  # inf, -inf, 1, 1
    [0x00000001, 0x00000001, 0x00000001, 0x00000001],  # smallest subnormal x 4
    [0x80000000, 0x00000000, 0xBF800000, 0xFF800000],  # -0, +0, -1, -inf
    [0x3F800000, 0x7F800001, 0x40000000, 0x40400000],  # 1, sNaN, 2, 3
    [0x00000001, 0x00000002, 0x80000003, 0x007FFFFF],  # subnormals
], np.uint32)
REDUCE_SUM = np.array([
    0x4B800001,  # (2^24 + 0) + (1 + 1) = 2^24 + 2; adding left to right would give 2^24
    0x4B800000,  # (1 + 2^24) -> 2^24 (tie, even), + (1 + 0) -> 2^24 again
    0x80000000,  # -0 + -0 = -0 at every level
    0x7FC00000,  # inf + -inf: canonical NaN
    0x00000004,
    0xFF800000,  # -inf
    0x7FC00000,  # NaN in: canonical NaN
    0x007FFFFF,  # (1 + 2) + (-3 + 0x7FFFFF) ulps of 2^-149
], np.uint32)
REDUCE_MAX = np.array([
    0x4B800000,  # 2^24
    0x4B800000,  # 2^24
    0x80000000,  # max of -0s is -0
    0x7F800000,  # inf
    0x00000001,
    0x00000000,  # +0 > -0 > -1 > -inf
    0x7FC00000,  # NaN in: canonical NaN
    0x007FFFFF,
], np.uint32)


@pytest.mark.parametrize("op", [ReduceOp.SUM, ReduceOp.MAX])
def test_lane_reduction_hand_cases(op):
    want = np.zeros_like(REDUCE_X)
    want[:, 0] = REDUCE_SUM if op == ReduceOp.SUM else REDUCE_MAX
    _assert_words(reduction_golden(SMALL, REDUCE_X, op), want, f"reduce {op.name} hand cases")
    oracle = numpy_tree_sum(REDUCE_X) if op == ReduceOp.SUM else numpy_max(REDUCE_X)
    _assert_words(oracle, want[:, 0], f"the NumPy {op.name} oracle")


def test_row_broadcast_hand_cases():
    x = np.array([[0x3F800000, 0x80000000, 0x7F800000, 0x3F800001],   # s = 1
                  [0x00000000, 0x80000000, 0xFFC00001, 0x00000001],   # s = -0
                  [0x7F800000, 0xFF800000, 0x3F800000, 0x00000000]],  # s = inf
                 np.uint32)
    s = np.array([0x3F800000, 0x80000000, 0x7F800000], np.uint32)
    want = np.array([[0x00000000, 0xBF800000, 0x7F800000, 0x34000000],  # 1 - 1 = +0
                     [0x00000000, 0x00000000, 0x7FC00000, 0x00000001],  # -0 - -0 = +0
                     [0x7FC00000, 0xFF800000, 0xFF800000, 0xFF800000]],  # inf - inf: NaN
                    np.uint32)
    _assert_words(broadcast_golden(SMALL, x, s, row_beats=1), want, "row_broadcast hand cases")
    _assert_words(numpy_sub(x, s[:, None]), want, "the NumPy oracle")


def test_pmu_programs_hand_cases():
    """The two PMU programs' expectations (not in the catalog) on hand-listed rows."""
    x = np.arange(6 * 4, dtype=np.uint32).reshape(6, 4)
    a_first = reorder_golden(x, "a")
    assert [int(row[0]) // 4 for row in a_first] == [0, 2, 4, 1, 3, 5]
    assert [int(row[0]) // 4 for row in reorder_golden(x, "b")] == [1, 3, 5, 0, 2, 4]
    assert np.array_equal(a_first[:, 1:] - a_first[:, :1], np.tile([1, 2, 3], (6, 1)))
    passes = credit_golden(x, rows=3, passes=2)
    assert [int(row[0]) // 4 for row in passes] == [2, 1, 0, 5, 4, 3]
