"""Bad and unusual video inputs through the real CLI entry (``symbolic_v2m.cli.main``).

Each input either gives sensible output or one line ``error: FILE: problem`` with exit status 1
and no traceback, and never leaves an output (or a temporary file) behind. ``compose`` is run
through the CLI where it fails during analysis (before any model is loaded); where it succeeds it
needs weights, and the CLI has no weights option, so those cases call ``compose()`` with the
tiny untrained weights.

Bad inputs already covered by ``tests/test_cli.py`` for ``analyze`` (missing, directory, text,
random bytes, audio only, header only, empty) are covered here for ``compose`` only.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.quiet_import import quiet_import
from symbolic_v2m.video import analyze_video
from symbolic_v2m.video.decode import FrameStream, analysis_size, decoder_threads
from symbolic_v2m.video.probe import probe_video
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[2]
FPS = 30
# A cut at 1.0 s, 3 s in all, a keyframe every 0.5 s so that decoding recovers after damage.
SHOTS = (SyntheticShot(1.0, speed=0.1, seed=1), SyntheticShot(2.0, speed=0.2, seed=2))


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def damage(source: Path, target: Path, start: float, length: float) -> Path:
    """Copy ``source`` with the bytes from fraction ``start`` to ``start + length`` of the file
    overwritten with random bytes (a fixed seed: the same damage every run)."""
    data = bytearray(source.read_bytes())
    first, count = int(len(data) * start), int(len(data) * length)
    data[first : first + count] = random.Random(0).randbytes(count)
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def clip(folder: Path) -> Path:
    """160x90, 30 fps, 3 s, a cut at 1.0 s (frame 30); moov at the end as ffmpeg writes it."""
    path = folder / "clip.mp4"
    write_synthetic_clip(path, SHOTS, size=(160, 90), extra_args=["-g", "15"])
    return path


@pytest.fixture(scope="module")
def faststart(clip: Path, folder: Path) -> Path:
    """The same clip with its index (moov) before the frames, as streaming services write it."""
    path = folder / "faststart.mp4"
    ffmpeg("-i", clip, "-c", "copy", "-movflags", "+faststart", path)
    return path


@pytest.fixture(scope="module")
def transport_stream(clip: Path, folder: Path) -> Path:
    path = folder / "clip.ts"
    ffmpeg("-i", clip, "-c", "copy", path)
    return path


@pytest.fixture(scope="module")
def raw_stream(clip: Path, folder: Path) -> Path:
    """An H.264 elementary stream: no container, no timestamps, no duration."""
    path = folder / "clip.h264"
    ffmpeg("-i", clip, "-c", "copy", path)
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``main(args)``'s exit status and what it printed to stderr."""
    capsys.readouterr()
    status = main(args)
    return status, capsys.readouterr().err


def written(out: Path) -> list[Path]:
    """Every file under ``out`` (outputs and temporary ``.partial.`` files alike)."""
    return [p for p in out.rglob("*") if p.is_file()] if out.exists() else []


def assert_fails_cleanly(status: int, err: str, video: Path, words: tuple[str, ...], out: Path):
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {video}: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in err
    assert written(out) == []


def analyze_cli(video: Path, tmp_path: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / "analysis"
    status, err = run(["analyze", str(video), "--json", str(out / "f.json"), "-q"], capsys)
    return status, err, out


def compose_cli(video: Path, tmp_path: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / "composed"
    args = ["compose", str(video), "--out", str(out), "--only", "midi,project", "-q"]
    status, err = run(args, capsys)
    return status, err, out


def compose_with(weights: Path, video: Path, out: Path):
    config = ComposeConfig(weights_dir=str(weights), outputs=("midi", "project"), seed=1)
    return compose(video, out, config)


def midi_end(path: Path) -> float:
    return quiet_import("pretty_midi").PrettyMIDI(str(path)).get_end_time()


# -- 1. not a video at all (compose; analyze is covered in tests/test_cli.py) -------------------
def _not_videos(folder: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    text = folder / "text.mp4"
    text.write_text("this is not a video\n" * 20)
    noise = folder / "noise.mp4"
    noise.write_bytes(random.Random(1).randbytes(20_000))
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    audio = folder / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", audio)
    no_streams = folder / "zero_frames.mp4"  # what ffmpeg writes when asked for 0 frames
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "0", no_streams)
    return {
        "missing": (folder / "nope.mp4", ("no such file",)),
        "directory": (folder, ("is a directory",)),
        "text named .mp4": (text, ("not a readable video file", "not video data")),
        "random bytes": (noise, ("not a readable video file",)),
        "empty": (empty, ("empty file",)),
        "audio only": (audio, ("no video stream", "audio-only")),
        "no streams": (no_streams, ("no media streams",)),
    }


NOT_VIDEOS = ("missing", "directory", "text named .mp4", "random bytes", "empty", "audio only")


@pytest.mark.parametrize("case", [*NOT_VIDEOS, "no streams"])
def test_compose_refuses_what_is_not_a_video(case, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    video, words = _not_videos(folder)[case]
    status, err, out = compose_cli(video, tmp_path, capsys)
    assert_fails_cleanly(status, err, video, words, out)


def test_analyze_refuses_a_text_file_named_mp4(tmp_path, capsys):
    video, words = _not_videos(tmp_path)["text named .mp4"]
    status, err, out = analyze_cli(video, tmp_path, capsys)
    assert_fails_cleanly(status, err, video, words, out)


# -- 2. truncated files -------------------------------------------------------------------------
def _truncated(clip: Path, faststart: Path, folder: Path) -> dict[str, tuple[Path, tuple]]:
    data = clip.read_bytes()
    no_index = folder / "first_half.mp4"  # the index (moov) was to come at the end
    no_index.write_bytes(data[: len(data) // 2])
    data = faststart.read_bytes()
    half = folder / "first_half_faststart.mp4"  # the index promises 3 s, frames stop at ~1 s
    half.write_bytes(data[: len(data) // 2])
    header = folder / "header_only.mp4"  # the index promises 90 frames, none are there
    header.write_bytes(data[: data.index(b"mdat") + 4])
    return {
        "no index": (no_index, ("not a readable video file", "moov atom", "truncated")),
        "half": (half, ("only", "of its 3.00 s could be decoded", "truncated")),
        "header only": (header, ("no frames",)),
    }


@pytest.mark.parametrize("command", [analyze_cli, compose_cli])
@pytest.mark.parametrize("case", ["no index", "half", "header only"])
def test_truncated_file_fails_cleanly(case, command, clip, faststart, tmp_path, capsys):
    video, words = _truncated(clip, faststart, tmp_path)[case]
    status, err, out = command(video, tmp_path, capsys)
    assert_fails_cleanly(status, err, video, words, out)


def test_file_missing_only_its_end_is_analysed_with_a_warning(faststart, tmp_path, caplog):
    data = faststart.read_bytes()
    video = tmp_path / "most.mp4"
    video.write_bytes(data[: int(len(data) * 0.85)])
    features = analyze_video(video)
    assert 1.5 < features.info.duration < 2.9  # what is there, not what the header promised
    assert [c.frame for c in features.hard_cuts] == [30]
    assert any("could not be decoded" in r.getMessage() for r in caplog.records), caplog.text


# -- 3. frames damaged in the middle ------------------------------------------------------------
def test_mid_stream_damage_skips_frames_with_a_warning_and_keeps_times(
    transport_stream, tmp_path, capsys, caplog
):
    video = damage(transport_stream, tmp_path / "damaged.ts", 0.6, 0.08)  # inside the 2nd shot
    status, err, out = analyze_cli(video, tmp_path, capsys)
    assert status == 0, err
    features = json.loads((out / "f.json").read_text())
    info = features["info"]
    assert 45 <= info["frame_count"] < 90  # frames were lost ...
    assert info["duration"] == pytest.approx(3.0, abs=0.02)  # ... but not time:
    assert [c["time"] for c in features["cuts"]] == [1.0]  # times are the frames' own
    assert features["times"][-1] == pytest.approx(3.0 - 1 / FPS, abs=1e-3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not be decoded and were skipped" in w for w in warnings), warnings
    assert [p.name for p in written(out)] == ["f.json"]


def test_the_cli_prints_the_damage_warning_on_stderr(transport_stream, tmp_path):
    video = damage(transport_stream, tmp_path / "damaged.ts", 0.6, 0.08)
    result = subprocess.run(
        [sys.executable, "-m", "symbolic_v2m.cli", "analyze", str(video), "-q"],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"WARNING: {video}: "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [analyze_cli, compose_cli])
def test_mostly_undecodable_stream_fails_cleanly(command, transport_stream, tmp_path, capsys):
    video = damage(transport_stream, tmp_path / "wrecked.ts", 0.15, 0.7)
    status, err, out = command(video, tmp_path, capsys)
    assert_fails_cleanly(
        status, err, video, ("of about 90 frames could be decoded", "corrupt"), out
    )


def test_damaged_raw_stream_warns_that_times_may_be_early(raw_stream, tmp_path, caplog):
    # A raw stream has neither timestamps nor a duration: the loss cannot be measured, only told.
    video = damage(raw_stream, tmp_path / "damaged.h264", 0.4, 0.1)
    features = analyze_video(video)
    assert 0 < features.info.frame_count < 90
    assert any("no timestamps" in r.getMessage() for r in caplog.records), caplog.text


# -- 4. zero and one frame ----------------------------------------------------------------------
def test_one_frame_video_is_analysed_without_flow_or_cuts(tmp_path, capsys):
    video = tmp_path / "one.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x90:rate={FPS}", "-frames:v", "1", video)
    status, err, out = analyze_cli(video, tmp_path, capsys)
    assert status == 0, err
    features = json.loads((out / "f.json").read_text())
    assert features["info"]["frame_count"] == 1
    assert features["info"]["duration"] == pytest.approx(1 / FPS, abs=1e-3)
    assert features["cuts"] == [] and features["beats"] == []
    assert features["flow_speed"] == [0.0] and features["visual_tempo"] is None
    assert len(features["shots"]) == 1


def test_one_frame_still_composes_one_bar_as_long_as_the_video(tiny_weights, tmp_path):
    # One frame shown for 2 s (an image turned into a video): the piece is one bar, cut to 2 s.
    video = tmp_path / "still.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=1/2", "-frames:v", "1", video)
    out = tmp_path / "out"
    result = compose_with(tiny_weights, video, out)
    assert len(result.timeline.meters) == 1
    assert result.timeline.duration == pytest.approx(2.0, abs=0.01)
    assert midi_end(result.files["midi"]) == pytest.approx(2.0, abs=0.01)
    assert sorted(p.name for p in written(out)) == ["still.mid", "still.v2m.json"]


# -- 5. timing and geometry metadata ------------------------------------------------------------
def test_raw_stream_without_container_timing_gets_its_duration(raw_stream):
    features = analyze_video(raw_stream)
    assert features.info.frame_count == 90
    assert features.info.duration == pytest.approx(3.0, abs=0.02)
    assert [c.frame for c in features.hard_cuts] == [30]


def test_bogus_container_rate_falls_back_to_timestamps(clip, tmp_path):
    # A time base of 1/1000 s stamped as the stream's rate: 1000 "fps" is not believed.
    video = tmp_path / "bogus.mkv"
    ffmpeg("-i", clip, "-c", "copy", video)
    meta = probe_video(video)
    features = analyze_video(video)
    assert meta.fps is None or meta.fps == FPS
    assert features.info.fps == FPS
    assert features.info.duration == pytest.approx(3.0, abs=0.02)


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_variable_frame_rate_without_frame_count_is_not_mistaken_for_damage(
    suffix, clip, tmp_path, caplog
):
    # Every third frame dropped with the timestamps kept; these containers record no frame count.
    video = tmp_path / f"vfr{suffix}"
    ffmpeg("-i", clip, "-vf", "select='not(eq(mod(n\\,3)\\,2))'", "-fps_mode", "vfr", video)
    features = analyze_video(video)
    assert features.info.variable_frame_rate
    assert features.info.frame_count == 60
    assert features.info.duration == pytest.approx(3.0, abs=0.05)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_trimmed_copy_with_edit_list_is_not_mistaken_for_truncation(tmp_path, caplog):
    # A stream copy cut between keyframes: the container counts the hidden lead-in frames too.
    source = tmp_path / "long.mp4"
    write_synthetic_clip(source, [SyntheticShot(4.0, speed=0.1, seed=3)], size=(160, 90))
    video = tmp_path / "trimmed.mp4"
    ffmpeg("-ss", "1.5", "-i", source, "-t", "1", "-c", "copy", video)
    assert probe_video(video).frame_count > 40
    features = analyze_video(video)
    assert features.info.duration == pytest.approx(1.0, abs=0.2)  # cut at a frame boundary
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_rotation_and_anamorphic_pixels_together(clip, tmp_path):
    # 160x90 coded with 2:1 pixels is 320x90 on screen; turned 270 degrees it is 90x320.
    wide = tmp_path / "wide.mp4"
    ffmpeg("-i", clip, "-vf", "setsar=2", "-c:v", "libx264", "-preset", "ultrafast", wide)
    video = tmp_path / "turned.mp4"
    ffmpeg("-i", wide, "-c", "copy", "-metadata:s:v:0", "rotate=270", video)
    features = analyze_video(video)
    assert features.info.rotation in (90, 270)
    assert (features.info.width, features.info.height) == (90, 320)
    w, h = features.info.analysis_width, features.info.analysis_height
    assert h / w == pytest.approx(320 / 90, rel=0.1)
    assert features.info.duration == pytest.approx(3.0, abs=0.02)
    assert [c.frame for c in features.hard_cuts] == [30]


# -- 6. 8K frames -------------------------------------------------------------------------------
# The analysing process's peak memory is read from /proc (VmHWM): getrusage(RUSAGE_SELF) would
# report this test process's own (Linux keeps the peak of the process that exec'd the new one).
# ffmpeg's peak is getrusage(RUSAGE_CHILDREN): the largest child, and ffmpeg is the decoder.
_MEASURE = """
import json, resource, sys
from pathlib import Path
from symbolic_v2m.video import analyze_video
features = analyze_video(sys.argv[1])
status = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()
print(json.dumps({
    "frames": features.info.frame_count, "width": features.info.width,
    "duration": features.info.duration, "analysis_width": features.info.analysis_width,
    "python_mb": int(status[0]) / 1024,
    "ffmpeg_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def test_8k_video_is_analysed_in_bounded_memory(tmp_path):
    video = tmp_path / "8k.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=7680x4320:rate=5", "-t", "1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", video)  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(video)], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    print(f"8K analysis: {measured}")  # measured on 2 cores: python ~140 MB, ffmpeg ~390 MB
    assert measured["frames"] == 5 and measured["width"] == 7680
    assert measured["duration"] == pytest.approx(1.0, abs=0.01)
    assert measured["analysis_width"] == 320  # never analysed at full size
    assert measured["python_mb"] < 1536  # frames are kept at analysis size only
    assert measured["ffmpeg_mb"] < 1536  # the decoder's threads are capped (below)


def test_decoder_threads_are_capped_only_for_huge_frames(clip, monkeypatch):
    assert decoder_threads(7680, 4320, cpus=16) == 5  # ~100 MB a thread
    assert decoder_threads(7680, 4320, cpus=2) is None  # ffmpeg's own 3 fit anyway
    assert decoder_threads(3840, 2160, cpus=16) is None
    assert decoder_threads(1920, 1080, cpus=64) is None
    meta = probe_video(clip)
    monkeypatch.setattr("symbolic_v2m.video.decode.os.cpu_count", lambda: 16)
    eight_k = replace(meta, coded_width=7680, coded_height=4320)
    huge = FrameStream(eight_k, analysis_size(7680, 4320))
    command = huge.command(detector_fd=3)
    assert command[command.index("-threads") + 1] == "5"
    assert "-threads" not in FrameStream(meta, analysis_size(160, 90)).command(detector_fd=3)


# -- 7. shorter than a bar ----------------------------------------------------------------------
def test_video_shorter_than_a_bar_gives_midi_as_long_as_the_video(tiny_weights, tmp_path):
    video = tmp_path / "short.mp4"
    write_synthetic_clip(
        video, [SyntheticShot(0.5, speed=0.1, seed=4)], size=(160, 90), fps=Fraction(FPS)
    )
    out = tmp_path / "out"
    result = compose_with(tiny_weights, video, out)
    assert result.timeline.duration == pytest.approx(0.5, abs=0.01)
    assert len(result.timeline.meters) == 1
    assert midi_end(result.files["midi"]) == pytest.approx(0.5, abs=0.01)
    assert sorted(p.name for p in written(out)) == ["short.mid", "short.v2m.json"]
