"""Many-to-one into a PMU: two AGCU READ streams interleave, the PMU writes them in seq order.

Runs on the RDU top through the runtime (Program Load, Argument Load, Kernel
Execute over the host port, meshes' and stage-credit checkers clean). The same
data goes through the same program twice: with ``reorder_input`` the PMU's rows
are the streams in sequence order, bit for bit; without it they are in arrival
order, which must differ (the flits really arrived out of order) while holding
the same rows (nothing lost or duplicated).
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from pcu_pmu.pmu.config import PMUConfig, Port
from testbench.bfm.words import assert_words_equal
from testbench.programs.pmu_reorder import reorder_arguments, reorder_golden, reorder_program
from testbench.runtime.host_script import HostScript
from testbench.runtime.program import ProgramError

SEEDS = [1, 2]
BEATS = 8  # per stream: 16 flits, the whole reorder window


@pytest.mark.parametrize("host_stall", [pytest.param(0.0, marks=pytest.mark.regress), 0.3])
def test_pmu_writes_two_interleaved_streams_in_seq_order(host_stall, seed, run_name, waves):
    config = rdu_params("small")
    rng = np.random.default_rng(seed)
    first = "a" if rng.integers(2) == 0 else "b"
    x = rng.integers(0, 1 << 32, (2 * BEATS, config.lanes), dtype=np.uint32)
    script = HostScript(config)
    x_addr = script.write(x)
    outs = {}
    for reorder in (True, False):
        outs[reorder] = script.allocate(x.nbytes)
        script.load(reorder_program(config, BEATS, reorder=reorder))
        script.launch(reorder_arguments(config, x_addr, outs[reorder], BEATS, first),
                       f"reorder_{reorder}")
        script.read(f"out_{reorder}", outs[reorder], x.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=host_stall)

    expected = reorder_golden(x, first)
    assert_words_equal(result["out_True"], expected, f"reordered PMU rows (first={first})")
    arrival = result["out_False"].reshape(x.shape)
    assert sorted(map(tuple, arrival)) == sorted(map(tuple, x)), (
        "without reorder the PMU should still hold every row exactly once")
    assert not np.array_equal(arrival, expected), (
        "the flits arrived in sequence order anyway; the test would not show a reorder")
    print(f"first={first}: arrival order of the rows without reorder: "
          f"{[int(np.flatnonzero((expected == row).all(axis=1))[0]) for row in arrival]}")


def test_reorder_program_checks():
    config = rdu_params("small")
    with pytest.raises(ProgramError, match="reorder window"):
        reorder_program(config, 9)
    with pytest.raises(ValueError, match="reorder_input needs write_port = VECTOR"):
        PMUConfig(write_port=Port.SCALAR, reorder_input=True).validate(config.pmu_params())
