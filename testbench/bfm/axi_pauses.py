"""Seeded random pauses on every channel of a cocotbext-axi master (AXI4 or AXI4-Lite)."""

import random

__all__ = ["pause_axi_master"]

_CHANNELS = ("aw_channel", "w_channel", "b_channel", "ar_channel", "r_channel")


def _pauses(rng: random.Random, probability: float):
    while True:
        yield rng.random() < probability


def pause_axi_master(master, rng: random.Random, probability: float) -> None:
    """Pause each channel of ``master`` in a cycle with ``probability``, one generator per
    channel seeded from ``rng`` (write channels first, then read channels)."""
    if not probability:
        return
    for interface in (master.write_if, master.read_if):
        for name in _CHANNELS:
            channel = getattr(interface, name, None)
            if channel is not None:
                channel.set_pause_generator(_pauses(random.Random(rng.getrandbits(32)),
                                                    probability))
