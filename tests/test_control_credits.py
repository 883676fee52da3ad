"""Pipeline-stage credits on the control fabric: a producer PMU waits for its consumer.

On the RDU top through the runtime: AGCU -> producer PMU (2 buffers) -> consumer
PMU (1 buffer) -> AGCU, the same data once with credits (the consumer's "buffer
drained" tokens routed to the producer's credit line, one initial credit) and
once without. Both are bit-exact. The tile's passive stage-credit checker (in
``credit_error``, which the script checks every cycle) proves the producer
never started a pass without a credit; the producer's output-stall counter
shows where the waiting went: with credits it waits before sending, without it
sends into a full consumer and its flits back up into the network.
"""

import numpy as np
import pytest

from hdl.network.control import control_words
from hdl.rdu.config import rdu_params
from hdl.tile.config_distributor import COUNT_BITS, MARKER, TARGET_BITS
from hdl.tile.output_tag import tag_word
from hdl.tile.targets import (
    config_targets,
    control_sinks,
    control_sources,
    credit_sink,
    pass_token_source,
)
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig
from testbench.bfm.words import assert_words_equal
from testbench.programs.stage_credits import (
    credit_arguments,
    credit_golden,
    credit_program,
    credit_units,
)
from testbench.runtime.host_script import HostScript
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

SEEDS = [1, 2]
ROWS, PASSES = 8, 4
OUTPUT_STALL = 2  # counter index: cycles a vector waited at the unit's output


@pytest.mark.parametrize("host_stall", [pytest.param(0.0, marks=pytest.mark.regress), 0.3])
def test_producer_waits_for_consumer_credits(host_stall, seed, run_name, waves):
    config = rdu_params("tile2x2")
    producer, consumer = credit_units(config)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << 32, (PASSES * ROWS, config.lanes), dtype=np.uint32)
    script = HostScript(config)
    x_addr = script.write(x)
    outs = {}
    for credits in (True, False):
        name = "credits" if credits else "free"
        outs[name] = script.allocate(x.nbytes)
        script.load(credit_program(config, ROWS, PASSES, credits=credits))
        script.counters(f"{name}_before")
        script.launch(credit_arguments(config, x_addr, outs[name], ROWS, PASSES), name)
        script.counters(f"{name}_after")
        script.read(f"{name}_out", outs[name], x.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=host_stall)

    expected = credit_golden(x, ROWS, PASSES)
    stalls = {}
    for name in ("credits", "free"):
        assert_words_equal(result[f"{name}_out"], expected, f"pipeline output ({name})")
        delta = result[f"{name}_after"] - result[f"{name}_before"]
        stalls[name] = int(delta[producer, OUTPUT_STALL])
        print(f"{name}: kernel cycles {int(result[f'{name}_cycles'][1])}, producer output "
              f"stall {stalls[name]}, consumer busy {int(delta[consumer, 0])}")
    assert stalls["credits"] < stalls["free"], (
        f"with credits the producer should wait before sending, not with its flits stuck "
        f"in the network: output stalls {stalls}")


def _pmu_config(**changes) -> PMUConfig:
    dense = AddressGenConfig(base=0, bounds=(4, 1, 1), strides=(1, 0, 0), lo=0, hi=4)
    return PMUConfig(write=dense, read=dense, **changes)


def _record(image, config, name: str) -> list[int]:
    """The payload of the image's record for target ``name``."""
    target, words, i = config_targets(config)[name], list(image.words), 0
    while i < len(words):
        header = words[i]
        assert header >> 24 == MARKER
        count = (header >> TARGET_BITS) & ((1 << COUNT_BITS) - 1)
        if header & ((1 << TARGET_BITS) - 1) == target:
            return words[i + 1:i + 1 + count]
        i += 1 + count
    raise AssertionError(f"the image has no {name} record")


def test_builder_routes_credits_and_refuses_bad_wiring():
    config = rdu_params("tile2x2")
    producer, consumer = credit_units(config)
    image = credit_program(config, ROWS, PASSES, credits=True)
    select = {sink: None for sink in range(control_sinks(config))}
    select[0], select[1] = producer, consumer
    select[credit_sink(config, producer)] = pass_token_source(config, consumer)
    assert _record(image, config, "control") == control_words(
        select, sources=control_sources(config), sinks=control_sinks(config))

    def builder(**changes):
        return (ProgramBuilder(config).flow(0, AGCU, [producer]).flow(1, producer, [AGCU])
                .unit(producer, _pmu_config(**changes)))

    with pytest.raises(ProgramError, match="does not set read_credits"):
        builder().credits(producer, consumer).build()
    with pytest.raises(ProgramError, match="would wait forever"):
        builder(read_credits=True, passes=2, initial_credits=1).build()
    builder(read_credits=True, passes=2, initial_credits=2).build()  # enough to start with
    pcu = next(i for i, (kind, _) in enumerate(config.units()) if kind == "pcu")
    with pytest.raises(ProgramError, match="only a PMU waits for credits"):
        ProgramBuilder(config).credits(pcu, consumer)
    with pytest.raises(ProgramError, match="already takes credits"):
        ProgramBuilder(config).credits(producer, consumer).credits(producer, pcu)


def test_builder_sets_a_unit_flows_first_seq():
    config = rdu_params("tile2x2")
    producer, consumer = credit_units(config)
    image = (ProgramBuilder(config).flow(0, AGCU, [producer])
             .flow(1, producer, [consumer], first_seq=5).build())
    assert _record(image, config, f"unit{producer}.vec_tag") == [tag_word(1, first_seq=5)]
    with pytest.raises(ProgramError, match="stream descriptor"):
        ProgramBuilder(config).flow(0, AGCU, [producer], first_seq=1)
    with pytest.raises(ProgramError, match="does not fit 8 bits"):
        ProgramBuilder(config).flow(1, producer, [consumer], first_seq=256)
