"""Program images and the program builder: what the runtime refuses before the RTL sees it."""

import struct

import pytest

from hdl.rdu.config import rdu_params
from hdl.tile.config_distributor import COUNT_BITS, MARKER, TARGET_BITS
from hdl.tile.targets import config_targets
from pcu_pmu.pcu.config import CounterConfig, PCUConfig
from pcu_pmu.pmu.config import PMUConfig
from testbench.runtime.image import IMAGE_VERSION, ImageError, ProgramImage
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

CONFIG = rdu_params("tile2x2")


def _pcu_config(**changes):
    return PCUConfig(lanes=CONFIG.lanes, stages=CONFIG.stages, **changes)


def _records(words):
    """(target, payload) records of a Program Load word stream."""
    records, i = [], 0
    while i < len(words):
        header = words[i]
        assert header >> 24 == MARKER
        target, count = header & ((1 << TARGET_BITS) - 1), (header >> TARGET_BITS) & (
            (1 << COUNT_BITS) - 1)
        records.append((target, words[i + 1:i + 1 + count]))
        i += 1 + count
    return records


def _program():
    return (ProgramBuilder(CONFIG)
            .flow(1, AGCU, [0])
            .flow(2, 0, [AGCU])
            .done_tokens([0])
            .unit(0, _pcu_config(counters=(CounterConfig(bound=8), CounterConfig(),
                                           CounterConfig())))
            .build())


def test_image_round_trips_and_keeps_every_word():
    image = _program()
    again = ProgramImage.from_bytes(image.to_bytes())
    assert again == image
    again.check_for(CONFIG)


def test_records_put_routes_and_tags_before_unit_configurations():
    targets = config_targets(CONFIG)
    order = [target for target, _ in _records(list(_program().words))]
    assert order == [targets["vector_routes"], targets["scalar_routes"], targets["unit0.vec_tag"],
                     targets["control"], targets["agcu_split"], targets["unit0"]]
    unit_words = _records(list(_program().words))[-1][1]
    assert unit_words == _pcu_config(counters=(CounterConfig(bound=8), CounterConfig(),
                                               CounterConfig())).to_words()


def test_agcu_scalar_flows_are_written_to_the_flow_split():
    builder = ProgramBuilder(CONFIG).flow(5, AGCU, [0], fabric="scalar").flow(13, AGCU, [0])
    builder.flow(14, AGCU, [0], fabric="scalar")
    (words,) = [w for t, w in _records(list(builder.build().words))
                if t == config_targets(CONFIG)["agcu_split"]]
    assert words == [1 << 5 | 1 << 14, 0]


@pytest.mark.parametrize("damage,needle", [
    (lambda b: b[:10], "shorter than its"),
    (lambda b: b"XDUPROG\0" + b[8:], "not a program image"),
    (lambda b: b[:8] + struct.pack("<H", IMAGE_VERSION + 1) + b[10:], "format version"),
    (lambda b: b[:-4], "announces"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 0x10]), "checksum mismatch"),
])
def test_damaged_images_are_refused_with_the_reason(damage, needle):
    blob = _program().to_bytes()
    with pytest.raises(ImageError, match=needle):
        ProgramImage.from_bytes(damage(blob))


def test_image_for_another_rdu_is_refused():
    image = _program()
    with pytest.raises(ImageError, match="another RDU configuration"):
        image.check_for(rdu_params("tile2x2", flows=32))


@pytest.mark.parametrize("build,needle", [
    (lambda b: b.unit(9, _pcu_config()), "no unit 9"),
    (lambda b: b.unit(1, _pcu_config()), "unit 1 is a PMU"),
    (lambda b: b.unit(0, PMUConfig()), "unit 0 is a PCU"),
    (lambda b: b.unit(0, _pcu_config(passes=0)), "unit 0 \\(PCU\\)"),
    (lambda b: b.flow(CONFIG.flows, AGCU, [0]), "out of range"),
    (lambda b: b.flow(1, AGCU, [0]).flow(1, AGCU, [3]), "routed twice"),
    (lambda b: b.flow(1, AGCU, []), "no destination"),
    (lambda b: b.flow(1, 0, [AGCU]).flow(2, 0, [3]), "already sends flow 1"),
    (lambda b: b.flow(1, AGCU, [0], fabric="fast"), "fabric must be 'vector' or 'scalar'"),
    (lambda b: b.done_tokens([0, 1, 2, 3, 0]), "at most 4"),
])
def test_programs_that_cannot_work_are_rejected_before_simulation(build, needle):
    with pytest.raises(ProgramError, match=needle):
        build(ProgramBuilder(CONFIG)).build()
