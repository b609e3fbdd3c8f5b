"""The command line: summary and outputs, and bad input that fails cleanly."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from symbolic_v2m.cli import app, main
from symbolic_v2m.video import VideoFeatures
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python cli.py`` as a user would, in a subprocess.

    ``CI=true`` as on CI servers, where pyfluidsynth prints a line to stdout on import unless we
    silence it: the tests that compare stdout must see that case wherever they run."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
    )  # fmt: skip


def test_analyze_writes_json_and_plot_and_prints_summary(speed_clip, tmp_path):
    out_json, out_png = tmp_path / "f.json", tmp_path / "sub" / "t.png"
    result = CliRunner().invoke(
        app, ["analyze", str(speed_clip.path), "--json", str(out_json), "--plot", str(out_png)]
    )
    assert result.exit_code == 0, result.output
    assert "cuts        3: 2.00s, 4.00s, 6.00s" in result.output
    features = VideoFeatures.from_json(out_json.read_text())
    assert [c.frame for c in features.hard_cuts] == list(speed_clip.cut_frames)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.rglob("*.partial.*"))


def test_existing_output_needs_force(speed_clip, tmp_path):
    out = tmp_path / "f.json"
    out.write_text("keep me")
    result = run_cli("analyze", str(speed_clip.path), "--json", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_text() == "keep me"
    result = run_cli("analyze", str(speed_clip.path), "--json", str(out), "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["version"] == 1


def _bad_inputs(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    text = tmp / "notes.txt"
    text.write_text("not a video\n")
    noise = tmp / "noise.mp4"
    # fixed bytes: some random draws happen to parse as a (subtitle) stream and flake the test
    noise.write_bytes(random.Random(1234).randbytes(50_000))
    audio = tmp / "audio.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac",
                    str(audio)], check=True)  # fmt: skip
    # A video whose header is intact but whose frames are gone: moov first, mdat cut off.
    header_only = tmp / "no_frames.mp4"
    faststart = tmp / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(good), "-c", "copy", "-movflags",
                    "+faststart", str(faststart)], check=True)  # fmt: skip
    data = faststart.read_bytes()
    header_only.write_bytes(data[: data.index(b"mdat") + 4])
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "missing": (tmp / "nope.mp4", "no such file"),
        "directory": (tmp, "is a directory"),
        "text": (text, "not a readable video file"),
        "random bytes": (noise, "not a readable video file"),
        "audio only": (audio, "audio-only"),
        "zero frames": (header_only, "no frames"),
        "empty": (empty, "empty file"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "text", "random bytes", "audio only", "zero frames", "empty"]
)
def test_bad_input_one_line_error_exit_1_no_outputs(case, speed_clip, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path, message = _bad_inputs(inputs, speed_clip.path)[case]
    outdir = tmp_path / "out"
    result = run_cli("analyze", str(path), "--json", str(outdir / "f.json"), "--plot",
                     str(outdir / "p.png"), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert path.name in lines[0]
    assert "Traceback" not in result.stderr
    assert not outdir.exists()


def test_usage_errors_exit_2(tmp_path):
    assert main(["analyze"]) == 2
    assert main(["analyze", "x.mp4", "--detector", "nope"]) == 2
    assert main(["analyze", "x.mp4", "--fps", "zero"]) == 2
    assert main(["no-such-command"]) == 2


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "analyze", str(tmp_path / "nope.mp4"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_console_script_and_launcher_agree(tmp_path):
    launcher = run_cli("--version", cwd=tmp_path)
    assert launcher.returncode == 0 and "symbolic-v2m" in launcher.stdout
    assert CliRunner().invoke(app, ["--version"]).output == launcher.stdout


def test_the_cli_starts_without_the_slow_imports():
    """torch, scipy.signal and scipy.stats take seconds to import (scipy.signal alone was 1.4 s
    of a 2.5 s ``--help``): only the commands that use them pay for them."""
    code = (
        "import sys, symbolic_v2m.cli; "
        "print(sorted({'torch', 'scipy.signal', 'scipy.stats'} & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_quiet_prints_nothing(tmp_path):
    clip = write_synthetic_clip(tmp_path / "c.mp4", [SyntheticShot(1.0, seed=1)])
    result = run_cli("analyze", str(clip.path), "-q", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_compose_and_regenerate_share_their_common_options() -> None:
    """The theory and run options are one definition (cli_options) used by both commands;
    only the defaults that differ by design differ."""
    from symbolic_v2m.cli import compose, regenerate

    compose_params = {p.name: p for p in compose.params}
    regenerate_params = {p.name: p for p in regenerate.params}
    for name in ("key", "progression", "scale_lock", "seed", "device", "threads", "quiet"):
        ours, theirs = compose_params[name], regenerate_params[name]
        assert ours.opts == theirs.opts and ours.callback is theirs.callback, name
        assert type(ours.type) is type(theirs.type) and ours.multiple == theirs.multiple, name
    assert compose_params["scale_lock"].default == "soft"
    assert regenerate_params["scale_lock"].default is None  # the composition's own lock
    assert (compose_params["seed"].default, regenerate_params["seed"].default) == (0, 1)


def test_train_init_from_refuses_another_stages_weights_and_a_non_model(tmp_path):
    from symbolic_v2m.model.checkpoint import default_weights_path

    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    common = ["train", "--data", str(data), "--out", str(out), "--init-from"]
    result = run_cli(*common, str(default_weights_path("chord")), "--stage", "melody", cwd=tmp_path)
    assert result.returncode == 2
    assert "a chord model, not melody" in result.stderr and "Traceback" not in result.stderr
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    result = run_cli(*common, str(junk), "--stage", "chord", cwd=tmp_path)
    assert result.returncode == 1
    assert "junk.safetensors" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
