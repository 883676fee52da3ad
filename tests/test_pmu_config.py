"""PMU configuration record: byte layout, round trips, and rejection of what cannot run."""

import json
import random

import pytest
from amaranth.lib import data

from pcu_pmu.pmu.config import (
    CONFIG_BYTES,
    CONFIG_WORDS,
    AddressGenConfig,
    PMUConfig,
    PMUConfigLayout,
    Port,
    ReadLayout,
    WriteLayout,
)
from pcu_pmu.pmu.params import PMUParams
from pcu_pmu.pmu.pmu import PMU, make_pmu

PARAMS = PMUParams(banks=16, depth=256)
SEEDS = [1, 2, 3]


def _good(**changes) -> PMUConfig:
    side = AddressGenConfig(base=10, bounds=(4, 2, 1), strides=(1, 4, 0), lo=10, hi=18)
    return PMUConfig(write=side, read=side, passes=2, n_buffers=2).replace(**changes)


def _random_config(rng: random.Random) -> PMUConfig:
    def side():
        return AddressGenConfig(
            base=rng.getrandbits(32), lo=rng.getrandbits(31), hi=(1 << 31) + rng.getrandbits(31),
            bounds=tuple(rng.randint(1, 0xFFFF) for _ in range(3)),
            strides=tuple(rng.randint(-0x8000, 0x7FFF) for _ in range(3)))
    write_port, read_port = rng.choice(list(Port)), rng.choice(list(Port))
    return PMUConfig(write=side(), read=side(), passes=rng.randint(1, 0xFFFF),
                     n_buffers=rng.randint(1, 255), bank_shift=rng.randint(0, 255),
                     write_port=write_port, write_layout=rng.choice(list(WriteLayout)),
                     read_port=read_port, read_layout=rng.choice(list(ReadLayout)),
                     reorder_input=rng.random() < 0.5, read_credits=rng.random() < 0.5,
                     initial_credits=rng.randint(0, 255))


def test_record_is_fourteen_words():
    assert data.Layout.cast(PMUConfigLayout).size == 448
    assert (CONFIG_BYTES, CONFIG_WORDS) == (56, 14)


def test_byte_layout_matches_the_documented_table():
    config = PMUConfig(
        write=AddressGenConfig(base=0x11223344, lo=0x55667788, hi=0x99AABBCC,
                               bounds=(0x0102, 0x0304, 0x0506), strides=(-1, 2, -32768)),
        read=AddressGenConfig(base=1, lo=2, hi=3, bounds=(4, 5, 6), strides=(7, 8, 9)),
        passes=0xBEEF, n_buffers=4, bank_shift=3, write_port=Port.SCALAR,
        write_layout=WriteLayout.PLAIN, read_port=Port.VECTOR,
        read_layout=ReadLayout.TRANSPOSED)
    raw = config.to_bytes()
    assert raw[0:4] == bytes.fromhex("44332211")
    assert raw[4:8] == bytes.fromhex("88776655")
    assert raw[8:12] == bytes.fromhex("ccbbaa99")
    assert raw[12:18] == bytes.fromhex("020104030605")
    assert raw[18:24] == bytes.fromhex("ffff02000080")
    assert raw[24:36] == bytes.fromhex("010000000200000003000000")
    assert raw[36:48] == bytes.fromhex("040005000600" "070008000900")
    assert raw[48:50] == bytes.fromhex("efbe")
    assert raw[50] == 4 and raw[51] == 3
    assert raw[52] == 0b10001  # write_port SCALAR (bit 0), read_layout TRANSPOSED (bits 3-4)
    assert raw[53:] == bytes(3)
    assert config.to_words()[0] == 0x11223344 and len(config.to_words()) == 14
    credited = config.replace(reorder_input=True, read_credits=True, initial_credits=0xA7)
    raw = credited.to_bytes()
    assert raw[52] == 0b11010001  # + reorder_input (bit 6), read_credits (bit 7)
    assert raw[53] == 0xA7 and raw[54:] == bytes(2)  # initial_credits, then reserved


def test_round_trip_through_bytes_and_words(seed):
    rng = random.Random(seed)
    for _ in range(100):
        config = _random_config(rng)
        assert PMUConfig.from_bytes(config.to_bytes()) == config
        assert PMUConfig.from_words(config.to_words()) == config


def test_layout_view_reads_the_same_fields():
    config = _good(bank_shift=5, read_layout=ReadLayout.DIAGONAL)
    view = data.Const(data.Layout.cast(PMUConfigLayout),
                      int.from_bytes(config.to_bytes(), "little"))
    assert view.write.base == 10 and view.read.hi == 18 and view.bank_shift == 5
    assert list(view.write.strides) == [1, 4, 0] and view.read_layout == ReadLayout.DIAGONAL


def test_a_good_configuration_validates():
    assert _good().validate(PARAMS) is not None
    _good(write_port=Port.SCALAR, read_port=Port.SCALAR, bank_shift=7).validate(PARAMS)
    _good(read_layout=ReadLayout.TRANSPOSED, write_layout=WriteLayout.DIAGONAL,
          n_buffers=16).validate(PARAMS)


def _side(**changes):
    base = dict(base=0, bounds=(2, 2, 2), strides=(1, 2, 4), lo=0, hi=8)
    base.update(changes)
    return AddressGenConfig(**base)


@pytest.mark.parametrize("config,field", [
    (_good(write=_side(bounds=(0, 1, 1))), r"write\.bounds\[0\] = 0 is out of range"),
    (_good(read=_side(bounds=(1, 1, 65536))), r"read\.bounds\[2\] = 65536 is out of range"),
    (_good(read=_side(bounds=(1, 1))), r"read\.bounds must have 3 entries"),
    (_good(write=_side(strides=(1, 40000, 0))), r"write\.strides\[1\] = 40000"),
    (_good(write=_side(base=-1)), r"write\.base = -1"),
    (_good(read=_side(hi=1 << 32)), r"read\.hi = 4294967296"),
    (_good(read=_side(lo=9, hi=8)), r"read\.lo = 9 is above read\.hi = 8"),
    (_good(write=_side(lo=5, hi=5 + 129)), r"write\.hi - write\.lo = 129 exceeds the 128 rows"),
    (_good(n_buffers=1, read=_side(hi=257)), r"read\.hi - read\.lo = 257 exceeds the 256 rows"),
    (_good(write_port=Port.SCALAR, write=_side(hi=16 * 128 + 1)),
     r"write\.hi - write\.lo = 2049 exceeds the 2048 elements"),
    (_good(n_buffers=3), r"n_buffers = 3 does not divide the bank depth 256"),
    (_good(n_buffers=0), r"n_buffers = 0 is out of range"),
    (_good(n_buffers=255), r"n_buffers = 255 does not divide"),
    (_good(bank_shift=8), r"bank_shift = 8 puts the bank-select bits past"),
    (_good(passes=0), r"passes = 0 is out of range"),
    (_good(passes=1 << 16), r"passes = 65536 is out of range"),
    (_good(write_port=Port.SCALAR, write_layout=WriteLayout.DIAGONAL),
     r"write_layout = DIAGONAL needs write_port = VECTOR"),
    (_good(read_port=Port.SCALAR, read_layout=ReadLayout.TRANSPOSED),
     r"read_layout = TRANSPOSED needs read_port = VECTOR"),
    (_good(read_layout=ReadLayout.TRANSPOSED, n_buffers=32),
     r"read_layout = TRANSPOSED needs whole 16x16 tiles in a buffer, but a buffer has 8 rows"),
    (_good(read_port=1), r"read_port must be a Port"),
])
def test_unexecutable_configuration_is_rejected_naming_the_field(config, field):
    with pytest.raises(ValueError, match=field):
        config.validate(PARAMS)


def test_encoding_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match=r"write\.strides\[0\]"):
        _good(write=_side(strides=(-40000, 0, 0))).to_bytes()


def test_from_bytes_rejects_bad_images():
    raw = bytearray(_good().to_bytes())
    with pytest.raises(ValueError, match="56 bytes, not 55"):
        PMUConfig.from_bytes(bytes(raw[:55]))
    bad_enum = bytearray(raw)
    bad_enum[52] |= 0b11000  # read_layout code 3
    with pytest.raises(ValueError, match="read_layout code 3 is not a ReadLayout"):
        PMUConfig.from_bytes(bytes(bad_enum))
    reserved = bytearray(raw)
    reserved[55] = 1
    with pytest.raises(ValueError, match="reserved bits must be zero"):
        PMUConfig.from_bytes(bytes(reserved))


@pytest.mark.parametrize("kwargs,message", [
    (dict(banks=3), "banks must be a power of two"),
    (dict(banks=1), "banks must be a power of two >= 2"),
    (dict(banks=16, depth=8), r"depth must be a power of two >= banks \(16\)"),
    (dict(depth=100), "depth must be a power of two"),
    (dict(depth=1 << 17), "depth must be at most 65536"),
    (dict(width=0), "width must be an int in"),
])
def test_bad_hardware_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PMUParams(**kwargs)


def test_factory_takes_json_parameters():
    params = json.loads(json.dumps(PMUParams(banks=4, depth=64).to_json()))
    pmu = make_pmu(**params)
    pmu._MustUse__silence = True  # built only to inspect its signature
    assert isinstance(pmu, PMU) and pmu.params == PMUParams(4, 64, 32)
    members = dict(pmu.signature.members)
    assert set(members) == {"cfg", "vec_in", "sca_in", "vec_out", "sca_out", "busy",
                            "credit_in", "configured", "reorder_input", "read_credits",
                            "initial_credits", "read_pass_start", "read_pass_done"}
    assert pmu.vec_in.payload.shape().size == 4 * 32
    assert pmu.sca_out.payload.shape().width == 32
