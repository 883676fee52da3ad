"""Bit-exact comparison of 32-bit words read back from the device with the golden model."""

import numpy as np

__all__ = ["assert_words_equal"]


def assert_words_equal(got, want, what: str) -> None:
    """Raise AssertionError naming ``what``, the count of differing words and the first."""
    want = np.asarray(want, np.uint32).reshape(-1)
    assert got.shape == want.shape, f"{what}: {got.shape} words, expected {want.shape}"
    differ = np.flatnonzero(got != want)
    if differ.size:
        first = differ[0]
        raise AssertionError(f"{what}: {differ.size} of {want.size} words differ, first at "
                             f"{first}: got {got[first]:#010x} want {want[first]:#010x}")
