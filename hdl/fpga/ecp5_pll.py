"""An ECP5 PLL (EHXPLLL) that makes the core clock from a board's oscillator."""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, Signal

__all__ = ["PLLSettings", "pll_settings", "core_clock_hz", "ECP5PLL"]

# EHXPLLL operating ranges (Lattice TN1263): phase detector input and VCO, MHz.
PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)


@dataclass(frozen=True)
class PLLSettings:
    """Dividers of an EHXPLLL with CLKOP fed back: ``out = in / clki_div * clkfb_div``,
    ``vco = out * clkop_div``."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    in_mhz: float
    out_mhz: float

    @property
    def vco_mhz(self) -> float:
        return self.out_mhz * self.clkop_div


def pll_settings(in_mhz: float, out_mhz: float, tolerance: float = 0.001) -> PLLSettings:
    """The dividers that make ``out_mhz`` from ``in_mhz`` within ``tolerance`` (relative),
    VCO nearest the middle of its range; a ValueError if none does."""
    best, best_key = None, None
    for clki_div in range(1, 129):
        pfd = in_mhz / clki_div
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            if abs(out / out_mhz - 1) > tolerance:
                continue
            for clkop_div in range(1, 129):
                vco = out * clkop_div
                if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                    continue
                key = (abs(out - out_mhz), abs(vco - sum(VCO_MHZ) / 2))
                if best_key is None or key < best_key:
                    best, best_key = PLLSettings(clki_div, clkfb_div, clkop_div, in_mhz, out), key
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes {out_mhz} MHz from {in_mhz} MHz")
    return best


def core_clock_hz(board_clock_hz: float, clock_mhz: float | None) -> float:
    """The clock a core runs at: the board's clock, or ``clock_mhz`` as a PLL makes it."""
    if clock_mhz is None:
        return board_clock_hz
    return pll_settings(board_clock_hz / 1e6, clock_mhz).out_mhz * 1e6


class ECP5PLL(Elaboratable):
    """Drives the clock of domain ``domain`` (which the parent defines, reset-less) from
    ``clk_in`` through an EHXPLLL set by ``settings``; ``locked`` is the PLL's LOCK,
    synchronised into that domain."""

    def __init__(self, clk_in, settings: PLLSettings, domain: str = "sync"):
        self.clk_in = clk_in
        self.settings = settings
        self.domain = domain
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        s = self.settings
        clk_out, lock = Signal(), Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{s.in_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{s.out_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=s.clki_div, p_CLKFB_DIV=s.clkfb_div, p_CLKOP_DIV=s.clkop_div,
            p_CLKOP_CPHASE=s.clkop_div // 2 - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, i_CLKFB=clk_out, o_CLKOP=clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=lock)
        m.d.comb += ClockSignal(self.domain).eq(clk_out)
        # LOCK is asynchronous to the output clock: two flip-flops before use
        meta = Signal()
        m.d[self.domain] += [meta.eq(lock), self.locked.eq(meta)]
        return m
