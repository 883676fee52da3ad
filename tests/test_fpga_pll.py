"""The ECP5 PLL that clocks the board's RDU core faster than the board's oscillator:
divider search within the EHXPLLL's ranges, the instance it elaborates to, and the core
clock the board top derives its UART divisor from."""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal

from hdl.fpga.board_top import board_platform
from hdl.fpga.ecp5_pll import ECP5PLL, PFD_MHZ, VCO_MHZ, core_clock_hz, pll_settings


def test_fifty_from_twenty_five():
    s = pll_settings(25, 50)
    assert (s.clki_div, s.clkfb_div, s.clkop_div, s.out_mhz, s.vco_mhz) == (1, 2, 12, 50, 600)


@pytest.mark.parametrize("in_mhz", [12, 25, 100])
def test_every_setting_found_is_in_range_and_on_target(in_mhz):
    found = 0
    for target in [10 + 0.5 * k for k in range(400)]:
        try:
            s = pll_settings(in_mhz, target)
        except ValueError:
            continue
        found += 1
        assert PFD_MHZ[0] <= in_mhz / s.clki_div <= PFD_MHZ[1]
        assert VCO_MHZ[0] <= s.vco_mhz <= VCO_MHZ[1]
        assert s.out_mhz == pytest.approx(in_mhz / s.clki_div * s.clkfb_div)
        assert abs(s.out_mhz / target - 1) <= 0.001
    assert found > 50


def test_unreachable_frequency_is_a_clear_error():
    with pytest.raises(ValueError, match="no ECP5 PLL setting makes 52.5 MHz from 25 MHz"):
        pll_settings(25, 52.5)


class _Counted(Elaboratable):
    """The PLL driving a counter in its domain, so the domain is used."""

    def __init__(self):
        self.clk_in, self.count = Signal(), Signal(4)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain(reset_less=True)
        m.submodules.pll = pll = ECP5PLL(self.clk_in, pll_settings(25, 50))
        with m.If(pll.locked):
            m.d.sync += self.count.eq(self.count + 1)
        return m


def test_pll_elaborates_to_an_ehxplll_fed_back_from_clkop():
    top = _Counted()
    text = rtlil.convert(top, ports=[top.clk_in, top.count])
    assert "EHXPLLL" in text
    for name, value in [("CLKI_DIV", 1), ("CLKFB_DIV", 2), ("CLKOP_DIV", 12),
                        ("CLKOP_CPHASE", 5)]:
        assert f"parameter \\{name} {value}" in text, name
    assert 'parameter \\FEEDBK_PATH "CLKOP"' in text


def test_core_clock_is_the_board_clock_or_the_pll_output():
    board = board_platform("ulx3s-85f").default_clk_frequency
    assert core_clock_hz(board, None) == board == 25e6
    assert core_clock_hz(board, 50) == 50e6
    assert core_clock_hz(board, 30) == 30e6
