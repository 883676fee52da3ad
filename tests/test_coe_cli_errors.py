"""``rdu coe run``: bad input is one error line, exit 2, before anything is simulated; the
progress status on stderr.

The simulator is replaced by a sentinel: a bad input must be refused before it (exit 2,
nothing on stdout, one line on stderr), a good one reaches it.
"""

import io

import pytest
from coe_common import expert_directory, refused

import testbench.runtime.host_script
import testbench.system.tiered_script
from testbench.cli.main import main
from testbench.coe.experts import ROUTER_FILE, make_experts
from testbench.coe.progress import (
    RequestDone,
    SessionProgress,
    format_status,
    parse_request_line,
    request_line,
)
from testbench.compiler.transformer import DecoderShape

#: `rdu coe run`'s default expert shape
SHAPE = DecoderShape(d_model=8, heads=1, head_dim=4, d_ff=8, tokens=4)
#: experts whose weight image (15,616 B) leaves room for 16 in the 256 KiB DDR tier
WIDE = DecoderShape(d_model=32, heads=1, head_dim=4, d_ff=32, tokens=4)
WIDE_ARGS = ["--d", "32", "--f", "32"]


class Simulated(Exception):
    """The session reached the simulator."""


@pytest.fixture(autouse=True)
def no_simulation(monkeypatch):
    def run(self, *args, **kwargs):
        raise Simulated

    monkeypatch.setattr(testbench.runtime.host_script.HostScript, "run", run)
    monkeypatch.setattr(testbench.system.tiered_script.TieredSystemScript, "run", run)


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, 3, SHAPE, seed=4)


def _copy(source, target):
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _refused(argv, capsys, tmp_path) -> str:
    """``rdu coe run ARGV`` refused with one error line and no output directory; the
    message."""
    out = tmp_path / "out"
    message = refused(["coe", "run", "--out", str(out), "--quiet", *argv], capsys)
    assert not out.exists()
    return message


def test_good_experts_reach_the_simulation(experts_dir, tmp_path):
    with pytest.raises(Simulated):
        main(["coe", "run", "--experts", str(experts_dir), "--out", str(tmp_path / "out"),
              "--quiet"])


def test_missing_experts_directory_is_not_generated(capsys, tmp_path):
    missing = tmp_path / "exprets"
    message = _refused(["--experts", str(missing), "--count", "3"], capsys, tmp_path)
    assert message == (f"--experts {missing} does not exist; make experts with `rdu coe "
                       f"make-experts --out {missing} --count 3 --d 8 --heads 1 --head-dim 4 "
                       f"--f 8`, or add --make-experts to generate them there")
    assert not missing.exists()


def test_directory_without_checkpoints_is_refused(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    message = _refused(["--experts", str(empty)], capsys, tmp_path)
    assert message.startswith(f"--experts {empty} holds no checkpoints; make experts with "
                              f"`rdu coe make-experts --out {empty} ")
    assert list(empty.iterdir()) == []
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert _refused(["--experts", str(a_file)], capsys, tmp_path) == (
        f"--experts {a_file} is a file, not a checkpoint directory")


def test_make_experts_flag_generates_then_checks_hbm(capsys, tmp_path):
    target = tmp_path / "new"
    message = _refused(["--experts", str(target), "--make-experts", "--count", "3",
                        "--slots", "30"], capsys, tmp_path)
    assert sorted(p.name for p in target.iterdir()) == [
        "expert00-general.safetensors", "expert01-code.safetensors",
        "expert02-math.safetensors", ROUTER_FILE]
    # 1,792-byte images; the router and the scratch buffers take 4,608 B of the 49,152
    assert message == ("30 HBM slots of 1,792 B need 53,760 B, but 44,544 of the 49,152 B "
                       "tensor region of the 65,536-byte HBM are free after the router and "
                       "the scratch buffers: at most 24 slots fit")
    # the experts made, the flag uses them as they are
    with pytest.raises(Simulated):
        main(["coe", "run", "--experts", str(target), "--make-experts", "--quiet", "--out",
              str(tmp_path / "out")])


def test_default_directory_is_generated_on_first_use(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(["--slots", "25"], capsys, tmp_path)
    assert len(list((tmp_path / "sim_build/coe/decoder_experts").glob("*.safetensors"))) == 5


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])
    return "corrupted or truncated safetensors file"


def _flip_data(path):
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x40
    path.write_bytes(bytes(raw))
    return "tensor data corrupted (sha256 of the tensors does not match the metadata)"


@pytest.mark.parametrize("damage", [_truncate, _flip_data])
def test_bad_checkpoint_is_one_line(damage, experts_dir, capsys, tmp_path):
    directory = _copy(experts_dir, tmp_path / "experts")
    bad = directory / "expert01-code.safetensors"
    problem = damage(bad)
    message = _refused(["--experts", str(directory)], capsys, tmp_path)
    assert message.startswith(f"{bad}: {problem}"), message


def test_checkpoint_of_another_shape_is_refused(experts_dir, capsys, tmp_path):
    message = _refused(["--experts", str(experts_dir), "--f", "16"], capsys, tmp_path)
    assert message == (f"{experts_dir / 'expert00-general.safetensors'}: tensor 'w1' has shape "
                       f"[8, 8], expected [8, 16]")


def test_router_of_other_experts_is_refused(experts_dir, capsys, tmp_path):
    directory = _copy(experts_dir, tmp_path / "experts")
    (directory / "expert02-math.safetensors").unlink()
    message = _refused(["--experts", str(directory)], capsys, tmp_path)
    assert message == ("router category 'math' has no expert (experts cover: code, general)")


def test_more_experts_than_ddr_holds(capsys, tmp_path):
    directory = tmp_path / "wide"
    make_experts(directory, 17, WIDE, seed=1)
    message = _refused(["--experts", str(directory), *WIDE_ARGS, "--slots", "1"], capsys,
                       tmp_path)
    assert message == ("17 experts in DDR need 17 x 15,616 B = 265,472 B (one weight image "
                       "each), but the DDR tier holds 262,144 B: at most 16 experts of this "
                       "shape fit")


def test_make_experts_beyond_ddr_writes_nothing(capsys, tmp_path):
    target = tmp_path / "wide"
    message = _refused(["--experts", str(target), "--make-experts", "--count", "17",
                        *WIDE_ARGS], capsys, tmp_path)
    assert message.startswith("17 experts in DDR need 17 x 15,616 B = 265,472 B")
    assert not target.exists()


def test_slot_larger_than_hbm(capsys, tmp_path):
    message = _refused(["--experts", str(tmp_path / "huge"), "--make-experts", "--count", "2",
                        "--d", "32", "--f", "80", "--slots", "1"], capsys, tmp_path)
    assert message == ("one expert slot (an expert's weight image, 34,048 B) does not fit in "
                       "HBM: 33,280 of the 49,152 B tensor region of the 65,536-byte HBM are "
                       "free after the router and the scratch buffers")


def test_json_stdout_stays_empty_on_error(capsys, tmp_path):
    status = main(["coe", "run", "--experts", str(tmp_path / "none"), "--json"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert "does not exist" in captured.err


# -- the progress status ---------------------------------------------------------------------

def test_request_lines_parse_back():
    hit = request_line(2, 4, 7, "expert01-code", 1)
    assert hit == "[2/4] request 7: expert expert01-code in slot 1 (hit)"
    assert parse_request_line(hit) == RequestDone(2, 4, 7, "expert01-code", 1, None, 0, None)
    switched = request_line(1, 4, 3, "expert00-general", 0, ("ddr", 1792))
    assert switched == ("[1/4] request 3: expert expert00-general in slot 0 "
                        "(switched in from DDR, 1792 B)")
    event = parse_request_line(switched + " at cycle 12345")
    assert event == RequestDone(1, 4, 3, "expert00-general", 0, "ddr", 1792, 12345)
    assert not event.hit and parse_request_line(hit).hit
    assert parse_request_line("building rdu_1x2_l4_tiers ...") is None
    assert parse_request_line(hit + " trailing") is None


def test_status_plain_and_bar():
    event = RequestDone(3, 4, 5, "expert02-math", 1, "host", 1792, 30_000)
    assert format_status(event, 1, 12.34, 2500.0) == (
        "[3/4] request 5: expert expert02-math in slot 1 (switched in from HOST, 1792 B) | "
        "hit rate 33% | cycle 30,000 | 2.5k cycles/s | 12.3 s elapsed")
    assert format_status(event, 1, 12.34, 2.5e6, bar=8) == (
        "[######..] 3/4 | hit rate 33% | 2.5M cycles/s | expert02-math (switched in from HOST) "
        "| 12.3 s elapsed")
    hit = RequestDone(2, 4, 1, "expert00-general", 0, None, 0, None)
    assert format_status(hit, 1, 5.0, bar=8) == (
        "[####....] 2/4 | hit rate 50% | expert00-general (hit) | 5.0 s elapsed")


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_session_progress_plain_lines_count_hits_and_speed():
    clock, lines = _Clock(), []
    status = SessionProgress(lines.append, clock=clock)
    clock.now = 110.0
    status(request_line(1, 2, 0, "e0", 0, ("ddr", 256)) + " at cycle 1000")
    status("a note")
    clock.now = 114.0
    status(request_line(2, 2, 1, "e0", 0) + " at cycle 9000")
    status.close()
    assert lines == [
        "[1/2] request 0: expert e0 in slot 0 (switched in from DDR, 256 B) | hit rate 0% | "
        "cycle 1,000 | 10.0 s elapsed",
        "a note",
        "[2/2] request 1: expert e0 in slot 0 (hit) | hit rate 50% | cycle 9,000 | "
        "2.0k cycles/s | 14.0 s elapsed"]


def test_session_progress_live_line_redraws_in_place():
    stream, lines = io.StringIO(), []
    status = SessionProgress(lines.append, live=stream, clock=_Clock(), width=200)
    status(request_line(1, 2, 0, "e1", 1, ("ddr", 256)))
    status("a note")
    status(request_line(2, 2, 1, "e1", 1))
    status.close()
    text = stream.getvalue()
    assert lines == ["a note"] and text.endswith("\n") and "\n" not in text[:-1]
    draws = [d.removesuffix("\x1b[K") for d in text[:-1].split("\r")[1:]]
    first = "[#####.....] 1/2 | hit rate 0% | e1 (switched in from DDR) | 0.0 s elapsed"
    # the note clears the line and the status is drawn again after it
    assert draws == [first, "", first,
                     "[##########] 2/2 | hit rate 50% | e1 (hit) | 0.0 s elapsed"]
    narrow = SessionProgress(lines.append, live=io.StringIO(), clock=_Clock(), width=24)
    narrow(request_line(1, 2, 0, "e1", 1))
    assert narrow.live.getvalue() == "\r[#####.....] 1/2 | hit r\x1b[K"  # 24 columns



def test_the_rdu_is_a_preset_with_tiers_and_its_overrides(experts_dir, capsys, tmp_path):
    """--preset and -p choose the RDU; one without memory tiers, an unknown preset or
    parameter is one error line; a larger HBM holds more slots."""
    base = ["--experts", str(experts_dir)]
    assert _refused([*base, "--preset", "small"], capsys, tmp_path) == (
        "--preset small has memory='sram'; a CoE session needs the HBM and DDR tiers "
        "(memory='tiers', e.g. preset coe)")
    assert _refused([*base, "--preset", "huge"], capsys, tmp_path).startswith(
        "--preset huge: unknown RDU preset 'huge'")
    assert "unknown RDU parameter(s) hbm_size" in _refused(
        [*base, "-p", "hbm_size=1"], capsys, tmp_path)
    assert "at most 24 slots fit" in _refused([*base, "--slots", "30"], capsys, tmp_path)
    with pytest.raises(Simulated):  # four times the HBM: 30 slots fit
        main(["coe", "run", *base, "--slots", "30", "-p", "memory_bytes=262144", "--quiet",
              "--out", str(tmp_path / "out")])


def test_sockets_are_checked_before_simulation(experts_dir, capsys, tmp_path):
    args = ["--experts", str(experts_dir)]
    assert _refused([*args, "--sockets", "0"], capsys, tmp_path).startswith(
        "--requests, --slots, --max-tokens, --new-tokens, --count and --sockets must be")
    assert _refused([*args, "--sockets", "2"], capsys, tmp_path) == (
        "1 heads cannot be split evenly over 2 sockets")
    assert _refused([*args, "--sockets", "2", "--switch-from", "host"], capsys, tmp_path) == (
        "--switch-from host is the single-socket baseline; experts split across sockets "
        "switch from DDR")
    two_heads = tmp_path / "two_heads"
    make_experts(two_heads, 3, DecoderShape(d_model=8, heads=2, head_dim=4, d_ff=8,
                                            tokens=4), seed=4)
    with pytest.raises(Simulated):
        main(["coe", "run", "--experts", str(two_heads), "--heads", "2", "--sockets", "2",
              "--out", str(tmp_path / "out"), "--quiet"])
