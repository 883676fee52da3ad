"""FPGA flow for the LFE5U-85F: synth_ecp5 maps multipliers to DSPs and buffers to block
RAM, nextpnr places and routes, a design that does not fit names the resource, and the
``rdu fpga`` command line fails cleanly on bad input."""

import subprocess
import sys

import pytest

from testbench.cli.designs import design_named
from testbench.fpga.critical_path import critical_path
from testbench.fpga.synth import (
    DEVICES,
    Device,
    FpgaResourceError,
    check_fit,
    estimate_from_cells,
    synthesize,
)
from testbench.sim.build_cache import Design
from testbench.sim.toolchain import PROJECT_ROOT


def _bridged(unit: str, lanes: int) -> Design:
    return Design(f"bridged_{unit}_x{lanes}", "hdl.fpga.bridged:bridged_numeric_array",
                  {"unit": unit, "lanes": lanes, "divisor": 4, "depth": 512})


@pytest.fixture(scope="module")
def fp32_mul_placed():
    """fp32_mul x1 (the 24x24 significand product) synthesised, placed and routed."""
    return synthesize(design_named("fp32_mul"), freq_mhz=50.0)


def test_fp32_mul_product_uses_dsp_blocks(fp32_mul_placed):
    result = fp32_mul_placed
    # 24 x 24 bits split into four 18 x 18 partial products, no logic multipliers.
    assert result.yosys_cells["MULT18X18D"] == 4
    assert result.utilisation["DSP"] == {"used": 4, "available": 156}
    assert result.utilisation["BRAM"] == {"used": 0, "available": 208}
    assert result.utilisation["FF"]["used"] == result.yosys_cells["TRELLIS_FF"]
    assert 0 < result.utilisation["LUT4"]["used"] < 2000
    assert result.fmax_mhz is not None and result.fmax_mhz > 10


def test_critical_path_is_reported(fp32_mul_placed):
    path = fp32_mul_placed.critical_path
    assert path is not None
    # The whole path (clock to Q, logic, routing, setup) is the clock period at fmax.
    assert abs(path["delay_ns"] - 1000 / fp32_mul_placed.fmax_mhz) < 0.1, path
    assert 0 < path["logic_ns"] and 0 < path["routing_ns"]
    assert path["logic_ns"] + path["routing_ns"] <= path["delay_ns"]
    assert path["through"] and path["from"] and path["to"], path


def test_critical_path_summary_follows_the_hierarchy():
    def seg(kind, delay, a, b):
        return {"type": kind, "delay": delay, "from": {"cell": a}, "to": {"cell": b}}

    report = {"fmax": {"clk": {"achieved": 40.0}, "slow": {"achieved": 20.0}},
              "critical_paths": [
                  {"from": "posedge clk", "to": "posedge clk", "path": []},
                  {"from": "posedge slow", "to": "posedge slow", "path": [
                      seg("clk-to-q", 0.5, "a.b.q_FF", "a.b.q_FF"),
                      seg("routing", 10.0, "a.b.q_FF", "c.x_LUT4"),
                      seg("logic", 4.0, "c.x_LUT4", "$nextpnr_CCU2C_1$CCU2_COMB0"),
                      seg("routing", 20.0, "$nextpnr_CCU2C_1$CCU2_COMB0", "a.b.y_LUT4"),
                      seg("logic", 5.0, "a.b.y_LUT4", "top_FF"),
                      seg("setup", 0.5, "top_FF", "top_FF")]}]}
    path = critical_path(report)
    assert path == {"from": "a.b.q_FF", "to": "top_FF", "delay_ns": 40.0, "logic_ns": 9.0,
                    "routing_ns": 30.0, "through": ["a.b", "c", "a.b", "(top)"]}
    assert critical_path({"fmax": {}, "critical_paths": []}) is None


def test_overflow_names_the_resource(fp32_mul_placed):
    cells = fp32_mul_placed.yosys_cells
    small = Device("tiny", (), dict(DEVICES["LFE5U-85F"].capacity, DSP=3))
    with pytest.raises(FpgaResourceError, match=r"DSP: needs 4, device has 3") as caught:
        check_fit("fp32_mul", small, estimate_from_cells(cells), "after synth_ecp5")
    assert caught.value.resource == "DSP"
    check_fit("fp32_mul", DEVICES["LFE5U-85F"], estimate_from_cells(cells), "after synth_ecp5")


def test_bridge_buffers_map_to_block_ram():
    result = synthesize(_bridged("fp32_add", 1), pnr=False)
    cells = result.yosys_cells
    # A 96-bit x 512 input buffer and a 32-bit x 512 output buffer: DP16KD blocks only,
    # nothing left in distributed RAM or flip-flops.
    assert cells.get("DP16KD", 0) == 4, cells
    assert "TRELLIS_DPR16X4" not in cells, cells
    assert result.utilisation["FF"]["used"] < 1000


@pytest.mark.regress
def test_too_many_multipliers_overflow_the_dsps():
    # 40 fp32 multipliers need 160 MULT18X18D; the LFE5U-85F has 156.
    with pytest.raises(FpgaResourceError, match="DSP: needs 160, device has 156") as caught:
        synthesize(design_named("fp32_mul", {"lanes": 40}), pnr=False)
    assert caught.value.resource == "DSP"


@pytest.mark.regress
def test_ulx3s_bitstream(tmp_path):
    from testbench.fpga.board_build import build_board

    result = build_board("ulx3s-85f", design_named("fp32_mul", {"lanes": 4}),
                         work=tmp_path / "build")
    assert result.utilisation["DSP"]["used"] == 16
    assert result.utilisation["BRAM"]["used"] > 0
    assert result.fmax_mhz >= result.clock_mhz
    assert (tmp_path / "build" / "top.bit").stat().st_size > 100_000


@pytest.mark.parametrize("argv, needle", [
    (["fpga", "synth", "nosuch"], "unknown design 'nosuch'"),
    (["fpga", "synth", "fp32_add", "-p", "bogus=1"], "has no parameter(s) bogus"),
    (["fpga", "synth", "fp32_add", "--device", "XC7A35T"], "unknown device 'XC7A35T'"),
    (["fpga", "synth", "fp32_add", "--freq", "0"], "target frequency must be positive"),
    (["fpga", "build", "--board", "de10-nano"], "unknown board 'de10-nano'"),
    (["fpga", "build", "--board", "ulx3s-85f", "--design", "nosuch"], "unknown design"),
])
def test_fpga_cli_bad_input_is_a_clear_error(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "testbench.cli.main", *argv],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
