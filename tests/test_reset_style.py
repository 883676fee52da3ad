"""Reset style of emitted Verilog: asynchronous for the Verilator models, synchronous for
the FPGA flow, and why (the logic Verilator evaluates on every input change)."""

import re
from dataclasses import replace

import pytest

from hdl.bus.reset_style import convert
from hdl.numerics.catalog import numeric_array
from pcu_pmu.pcu.config import PCUParams
from pcu_pmu.pcu.pcu import PCU
from testbench.sim.build_cache import Design, build_model, verilog_for

DESIGN = Design("reset_probe", "hdl.numerics.catalog:numeric_array",
                {"unit": "fp32_exp", "lanes": 1})


def test_simulation_designs_reset_asynchronously_and_the_style_is_in_the_key(tmp_path):
    simulated, _ = verilog_for(DESIGN, tmp_path)
    board, _ = verilog_for(replace(DESIGN, reset="sync"), tmp_path)
    assert simulated != board
    assert "posedge rst" in simulated.read_text()
    assert "posedge rst" not in board.read_text()


def test_shared_module_tops_pass_the_style_to_every_module():
    """A PCU's arithmetic units are modules of their own (shared_modules); a reset in
    front of any flop's next-state logic would put that module back on every eval."""
    params = PCUParams(lanes=2, stages=1, tail_ops=("PASS", "EXP"))
    simulated = PCU(params).emit_verilog("probe", "async")
    board = PCU(params).emit_verilog("probe", "sync")
    assert simulated.count("\nmodule ") > 5
    assert "if (rst) begin" in board and "if (rst) begin" not in simulated
    modules = simulated.split("\nmodule ")[1:]
    assert all("posedge rst" in text for text in modules if "input rst;" in text)


def test_unknown_reset_style_is_refused():
    with pytest.raises(ValueError, match="unknown reset style 'level'"):
        Design("x", DESIGN.factory, reset="level")
    with pytest.raises(ValueError, match="unknown reset style 'level'"):
        convert(numeric_array(unit="fp32_exp", lanes=1), "probe", "level")


def _input_region_lines(model) -> int:
    """Lines of the code Verilator runs on every ``eval()`` (its input-combinational
    region: everything combinationally reachable from a top-level input)."""
    text = "".join(path.read_text() for path in model.build_dir.glob("*.cpp"))
    bodies = re.findall(r"^void \w+ico_sequent\w*\(.*?^}", text, re.S | re.M)
    return sum(len(body.splitlines()) for body in bodies)


def test_asynchronous_reset_keeps_next_state_logic_out_of_the_input_region(tmp_path):
    """With a synchronous reset, ``rst`` selects the initial value before every flop, so
    the whole pipeline's next-state logic is evaluated on every input change."""
    log = lambda _: None  # noqa: E731
    sync = build_model(replace(DESIGN, reset="sync"), root=tmp_path, log=log)
    asynchronous = build_model(DESIGN, root=tmp_path, log=log)
    assert _input_region_lines(asynchronous) < 0.6 * _input_region_lines(sync)
