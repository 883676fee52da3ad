"""Shared checks of the multi-socket system tests."""

import numpy as np

from hdl.system.system import LINK_STATS


def check_bits(got, want, what: str) -> None:
    """Fail, naming ``what`` and the first differing word, unless ``got`` has the shape
    and every bit pattern of ``want``."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    differ = np.flatnonzero(got != want)
    assert not differ.size, (
        f"{what}: {differ.size} of {want.size} words differ, first at "
        f"{np.unravel_index(differ[0], want.shape)}: got {got.flat[differ[0]]:#010x} "
        f"want {want.flat[differ[0]]:#010x}")


def check_links(result) -> None:
    """No link's checkers fired, and every link's a -> b direction carried data frames
    (on a ring every link is a hop k -> k + 1 that the collectives use)."""
    links = result["links"]
    assert (links[:, :, LINK_STATS.index("violations")] == 0).all()
    assert (links[:, 0, LINK_STATS.index("tx_data_frames")] > 0).all()
