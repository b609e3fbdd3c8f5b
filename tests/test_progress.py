"""Progress through every phase of a run, and the summary in words a person would write.

The display is judged as a user sees it: ``compose`` and ``regenerate`` run under a
pseudo-terminal and the screen's bytes are read for each phase's name, in order; on a pipe
nothing but the summary comes out. The library side is judged through its callback.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from symbolic_v2m.cli_report import composition_report
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.errors import MissingPartError
from symbolic_v2m.export import find_soundfont
from symbolic_v2m.model import Constraints, CPTransformer, ModelConfig, generate
from symbolic_v2m.music import KeyChange, StageContext, TimeSignature
from symbolic_v2m.music.theory import spelled_key_name
from symbolic_v2m.progress import PHASES

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _has_audio() -> bool:
    try:
        find_soundfont()
    except MissingPartError:
        return False
    return True


def _screen(args: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run ``python cli.py ARGS`` with its stdout and stderr on a pseudo-terminal, as in an
    interactive shell; return the exit status and everything the terminal was sent."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    os.close(follower)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(timeout=60)
    return code, ANSI.sub(b"", bytes(screen)).decode("utf-8", "replace")


def _phase_positions(screen: str, phases: list[str]) -> list[int]:
    """Where each phase's bar first shows (its name at the start of a redrawn line)."""
    return [
        m.start() if (m := re.search(rf"(?:^|[\r\n]){phase} ", screen)) else -1 for phase in phases
    ]


def test_compose_and_regenerate_show_every_phase_in_order_on_a_terminal(
    varied_clip, tiny_weights, tmp_path
) -> None:
    clip, _ = varied_clip
    audio = _has_audio()
    only = "midi,musicxml,png,project" + (",wav" if audio else "")
    code, screen = _screen(
        ["compose", str(clip.path), "--out", "o", "--weights", str(tiny_weights), "--only", only],
        cwd=tmp_path,
    )
    assert code == 0, screen
    phases = ["analysing", "chords", "melody", "accompaniment", "export"]
    phases += ["render"] if audio else []
    where = _phase_positions(screen, phases)
    assert -1 not in where, (dict(zip(phases, where, strict=True)), screen[-2000:])
    assert where == sorted(where), dict(zip(phases, where, strict=True))
    assert re.search(r"chords .* (\d+)/\1 bars", screen)  # a stage's bar reaches its end
    assert "<" in screen  # elapsed<remaining
    assert screen.index("wrote ") > where[-1]  # the summary comes after the bars

    project = next((tmp_path / "o").glob("*.v2m.json"))
    code, screen = _screen(
        ["regenerate", str(project), "--stage", "melody", "--bars", "2-3"], cwd=tmp_path
    )
    assert code == 0, screen
    phases = ["melody", "accompaniment", "export"] + (["render"] if audio else [])
    where = _phase_positions(screen, phases)
    assert -1 not in where and where == sorted(where), dict(zip(phases, where, strict=True))
    assert re.search(r"melody .* 2/2 bars", screen)  # the span's bars, not the piece's
    assert "chords " not in screen and "analysing" not in screen


def test_a_pipe_gets_no_progress(varied_clip, tiny_weights, tmp_path) -> None:
    clip, _ = varied_clip
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "compose", str(clip.path), "--out", "o",
         "--weights", str(tiny_weights), "--only", "midi,project"],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout
    assert not any(line.startswith(tuple(PHASES)) for line in proc.stdout.splitlines())


def test_the_library_reports_each_phase_once_a_bar_at_most(varied_clip, tiny_weights, tmp_path):
    clip, _ = varied_clip
    calls: list[tuple[str, float, float]] = []
    config = ComposeConfig(
        weights_dir=str(tiny_weights), outputs=("midi", "musicxml", "project"), seed=3
    )
    result = compose(clip.path, tmp_path / "o", config, progress=lambda *c: calls.append(c))
    bars = len(result.timeline.meters)
    order = list(dict.fromkeys(phase for phase, _, _ in calls))
    assert order == ["analysing", "chords", "melody", "accompaniment", "export"]
    for stage in ("chords", "melody", "accompaniment"):
        done = [d for p, d, t in calls if p == stage]
        assert {t for p, d, t in calls if p == stage} == {bars}
        assert done[0] == 0 and done[-1] == bars
        assert done == sorted(set(done))  # never twice for one count, never backwards
        assert len(done) <= bars + 1
    exported = [(d, t) for p, d, t in calls if p == "export"]
    assert exported[0] == (0, 2) and exported[-1] == (2, 2)  # MIDI and MusicXML


def test_generation_reports_the_bars_after_a_prompt() -> None:
    """A prompt ending at the third bar line holds two finished bars, of which the sampler can
    count one (the second may go on): reports start there, add one bar at a time as each bar
    line is written, and end with the whole piece."""
    config = ModelConfig(stage="chord", d_model=32, n_layers=1, n_heads=2, d_ff=64)
    model = CPTransformer(config)
    meters = (TimeSignature(4, 4),) * 6
    context = StageContext.build(meters, (KeyChange(0, 2, "minor"),), (2,))
    full = generate(model, context, Constraints(meters), n=2, seed=4)[0]
    bar = model.spec.type_index("bar")
    third_bar = int(np.flatnonzero(full.tokens[:, 0] == bar)[2])  # the prompt: bars 1-2
    context = StageContext.build(meters, (KeyChange(0, 2, "minor"),), (2,))
    reports: list[int] = []
    generate(
        model, context, Constraints(meters), n=2, seed=5, prompt=full.tokens[:third_bar],
        on_bar=reports.append,
    )  # fmt: skip
    assert reports == [1, 2, 3, 4, 5, 6]


def test_summary_of_a_clip_with_no_cuts_and_one_section(pan_clip, tiny_weights, tmp_path):
    config = ComposeConfig(weights_dir=str(tiny_weights), outputs=("midi",), seed=1)
    result = compose(pan_clip.path, tmp_path / "o", config)
    assert len(result.timeline.sections) == 1 and not result.timeline.cuts
    first, second = composition_report(pan_clip.path, result)[:2]
    assert first.endswith(", 1 section") and " 1 sections" not in first
    assert second.startswith("  no cuts; mood ")
    tempi = {round(q) for _, q in result.timeline.tempo.tempo_changes()}
    if len(tempi) == 1:  # a steady tempo reads as one figure, not "104-104"
        assert f", {tempi.pop()} BPM, " in first and "-" not in first.split("->")[1]


def test_summary_of_a_clip_with_several_cuts_and_sections(varied_clip, tiny_weights, tmp_path):
    clip, _ = varied_clip
    config = ComposeConfig(weights_dir=str(tiny_weights), outputs=("midi",), seed=1)
    result = compose(clip.path, tmp_path / "o", config)
    timeline = result.timeline
    first, second = composition_report(clip.path, result)[:2]
    assert f"-> {len(timeline.meters)} bars, " in first
    assert first.endswith(f", {len(timeline.sections)} sections") and len(timeline.sections) > 1
    on = sum(c.on_downbeat for c in timeline.cuts)
    assert len(timeline.cuts) == 5  # six shots
    expected = "5 cuts, all on downbeats" if on == 5 else f"5 cuts, {on} on downbeats"
    assert second.startswith(f"  {expected}; mood ")
    key = spelled_key_name(timeline.key.tonic, timeline.key.mode)
    assert f", {key}, " in first


@pytest.mark.parametrize(
    ("tonic", "mode", "name"),
    [(0, "major", "C major"), (6, "minor", "F# minor"), (1, "major", "Db major"),
     (1, "minor", "C# minor"), (8, "minor", "G# minor"), (10, "major", "Bb major"),
     (3, "minor", "Eb minor"), (6, "major", "Gb major")],
)  # fmt: skip
def test_keys_are_spelt_with_the_fewer_accidentals(tonic: int, mode: str, name: str) -> None:
    assert spelled_key_name(tonic, mode) == name


@pytest.mark.parametrize(
    "phase", ["analysing", "chords", "melody", "accompaniment", "export", "render"]
)
def test_ctrl_c_in_any_phase_ends_cleanly(phase: str, varied_clip, tmp_path) -> None:
    """SIGINT as soon as the phase's bar shows: exit 130, one line, and no output at all."""
    if phase == "render" and not _has_audio():
        pytest.skip("no soundfont: no render phase")
    clip, _ = varied_clip
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "compose", str(clip.path), "--out", "o",
         "--only", "midi,musicxml,png,project,wav,stems"],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 300
    while f"{phase} ".encode() not in ANSI.sub(b"", screen):
        assert proc.poll() is None and time.monotonic() < deadline, screen[-500:]
        if select.select([leader], [], [], 0.05)[0]:
            screen += os.read(leader, 65536)
    proc.send_signal(signal.SIGINT)
    rest = b""
    while True:
        try:
            chunk = os.read(leader, 65536) if select.select([leader], [], [], 1)[0] else b""
        except OSError:
            break
        if not chunk and proc.poll() is not None:
            break
        rest += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 130, rest
    lines = [line for line in ANSI.sub(b"", rest).decode().splitlines() if line.strip(" \r")]
    said = "interrupted: nothing was changed (no partial outputs were left)"
    assert lines[-1].strip("\r ") == said
    out = tmp_path / "o"
    assert not out.exists() or not any(out.rglob("*"))


def test_render_progress_beside_the_export_is_passed_on_by_the_displays_thread() -> None:
    """The audio renders in a helper thread while the score is written: its reports are only
    kept, and the main thread passes the latest new one on when the export is done (a display
    drawn from two threads could wait forever on a lock an interrupt left held)."""
    import threading

    from symbolic_v2m.compose import _RelayedProgress

    seen: list[tuple[float, float, str]] = []
    held = _RelayedProgress(lambda d, t: seen.append((d, t, threading.current_thread().name)))
    helper = threading.Thread(target=lambda: (held(0.0, 10.0), held(4.0, 10.0)), name="helper")
    helper.start()
    helper.join()
    assert seen == []
    held.forward()
    held.forward()  # nothing new: nothing passed on
    held(10.0, 10.0)
    held.forward()
    main = threading.current_thread().name
    assert seen == [(4.0, 10.0, main), (10.0, 10.0, main)]
    _RelayedProgress(None).forward()  # no display: nothing to call
