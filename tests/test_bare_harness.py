"""The bare C++ harness (testbench/sim/bare_harness.*) on the small RDU top.

The GEMM schedule of ``rdu bench simspeed`` runs bit-exact and takes exactly the busy
cycles it takes under cocotb; memory round-trips across 4 KiB bursts; a failing run
(a DECERR write, a doorbell that starts nothing, a bad script) exits non-zero with the
reason.
"""

import subprocess

import numpy as np
import pytest

from hdl.agcu.commands import Command
from hdl.host.host_port import HOST_PORT_ID
from hdl.rdu.config import rdu_params
from testbench.cli.bench_simspeed import gemm_schedule, run_cocotb
from testbench.runtime import host_registers as reg
from testbench.runtime.host_script import rdu_design
from testbench.sim.bare_harness import BareRunError, build_bare, run_bare

CONFIG = rdu_params("small")
DESIGN = rdu_design(CONFIG)
BEAT = CONFIG.vector_bits // 8


def test_gemm_schedule_bit_exact_with_cocotb_cycles(run_name):
    schedule = gemm_schedule(CONFIG, 16, 16, 16)
    table, entries = schedule.table
    result = run_bare(DESIGN, schedule.tensor_writes + schedule.command_writes,
                      [(reg.CMD_OP, int(Command.SCHEDULE)), (reg.CMD_ADDR, table),
                       (reg.CMD_LENGTH, entries), (reg.DOORBELL, 1)],
                      [schedule.out],
                      query=(reg.ID, reg.STATUS, reg.COMMANDS_DONE, reg.KERNEL_CYCLES))
    assert np.array_equal(schedule.logical_out(result.reads[0]), schedule.golden)
    cocotb = run_cocotb(schedule, "cocotb_quiet", run_name=run_name)
    assert cocotb.bit_exact
    assert result.busy_cycles == cocotb.busy_cycles
    assert result.registers == {reg.ID: HOST_PORT_ID, reg.STATUS: 0, reg.COMMANDS_DONE: 1,
                                reg.KERNEL_CYCLES: cocotb.kernel_cycles}
    assert 0 < result.wall_seconds < 60


def test_memory_round_trip_across_4k(seed):
    """An odd-length write across a 4 KiB boundary (partial last beat strobed: the bytes
    after it keep their value) over a background, read back whole."""
    rng = np.random.default_rng(seed)
    address = 4096 - 3 * BEAT
    background = rng.integers(0, 2**32, 300 * BEAT // 4, dtype=np.uint32)
    data = rng.integers(0, 256, 260 * BEAT + 7, dtype=np.uint8)
    result = run_bare(DESIGN, [(address, background), (address, data)], [],
                      [(address, background.size)])
    expected = background.view(np.uint8).copy()
    expected[:data.size] = data
    assert result.busy_cycles is None
    assert result.reads[0].tobytes() == expected.tobytes()


def test_write_out_of_range_fails_with_the_response():
    end = CONFIG.memory_bytes
    with pytest.raises(BareRunError, match=rf"line 1: memory write {end:#x} answered DECERR"):
        run_bare(DESIGN, [(end - BEAT, np.zeros(2 * BEAT, np.uint8))], [], [])


def test_doorbell_that_starts_nothing_times_out():
    with pytest.raises(BareRunError, match="busy did not rise within 100 cycles"):
        run_bare(DESIGN, [], [(reg.CMD_LENGTH, 0)], [], timeout_cycles=100)


def test_bad_script_exits_2_naming_the_line(tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("Q 0x0\nM 0x0 4 00112233\nX 1\n")
    done = subprocess.run([build_bare(DESIGN), script], capture_output=True, text=True)
    assert done.returncode == 2
    assert "line 3: unknown command 'X'" in done.stderr
    assert done.stdout == ""
