"""binary32 -> bfloat16 conversion with seeded stochastic rounding, several lanes."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import CANONICAL_NAN_BF16
from .pipeline import StallPipeline

__all__ = ["FP32ToBF16Stochastic", "lane_seed", "lane_seed_rtl", "xorshift32_step"]


def lane_seed(seed: int, lane: int) -> int:
    """The initial (non-zero) xorshift32 state of ``lane`` for the unit seed ``seed``.

    A murmur3 finaliser of ``seed + lane * 0x9E3779B9`` so neighbouring lanes
    start far apart; a zero result (xorshift's fixed point) becomes 1.
    """
    h = (seed + lane * 0x9E3779B9) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h or 1


def lane_seed_rtl(seed, lane: int):
    """``lane_seed`` as RTL logic on a 32-bit value ``seed``."""
    h = (seed + (lane * 0x9E3779B9 & 0xFFFFFFFF))[0:32]
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B)[0:32]
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35)[0:32]
    h = h ^ (h >> 16)
    return Mux(h.any(), h, 1)


def xorshift32_step(state):
    """Marsaglia's xorshift32 (13, 17, 5) on a 32-bit RTL value."""
    s = state ^ (state << 13)[0:32]
    s = s ^ (s >> 17)
    return s ^ (s << 5)[0:32]


class FP32ToBF16Stochastic(wiring.Component):
    """Round ``lanes`` binary32 values per beat to bfloat16, stochastically.

    Each lane owns a 32-bit xorshift32 state register, set to
    ``lane_seed(seed, lane)`` at reset (``seed`` the parameter) and in the cycle
    after ``load_seed`` is high (``seed`` the port: the configuration register;
    loading wins over advancing). An element
    adds the top 16 bits of its lane's state to its low half and keeps the top
    half; the states advance once per accepted beat. The expected result is the
    input value (unbiased); a carry may reach the exponent (values near the
    largest finite round up to infinity with matching probability); infinity
    stays infinity; NaN gives 0x7FC0. One stage.
    """

    latency = 1

    def __init__(self, lanes: int = 1, seed: int = 1):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        if not 0 <= seed < 1 << 32:
            raise ValueError(f"seed must be a 32-bit unsigned value, not {seed}")
        self._lanes = lanes
        self._seed = seed
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(32, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(16, lanes))),
            "seed": In(unsigned(32)),
            "load_seed": In(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def reset_seed(self) -> int:
        """The seed the states take at reset."""
        return self._seed

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        accepted = self.i.valid & self.i.ready
        results = {}
        for n in range(self._lanes):
            state = Signal(unsigned(32), init=lane_seed(self._seed, n), name=f"state{n}")
            with m.If(self.load_seed):
                m.d.sync += state.eq(lane_seed_rtl(self.seed, n))
            with m.Elif(accepted):
                m.d.sync += state.eq(xorshift32_step(state))
            x = self.i.payload[n]
            is_nan = (x[23:31] == 0xFF) & x[0:23].any()
            rounded = (x + state[16:32])[16:32]
            results[f"r{n}"] = Mux(is_nan, CANONICAL_NAN_BF16, rounded)
        out = p.stage(**results)
        p.finish(Cat(*(getattr(out, f"r{n}") for n in range(self._lanes))))
        return m
