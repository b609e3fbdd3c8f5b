"""A folder of outputs is always one consistent set: the previous run's or the new one's.

Each case starts from a folder composed with seed 1, runs a command that would replace it
(``compose --force`` with seed 2, or ``regenerate``), and stops or breaks that run on the way:
a SIGINT to the real process at several points, or a failure injected into one writer at a
time. The folder's files are then compared, by hash, with the old set and with the new set
(the same command run to its end elsewhere; the outputs are deterministic for a seed).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import symbolic_v2m.compose as compose_module
from symbolic_v2m.cli import main
from symbolic_v2m.errors import MissingPartError, OutputError
from symbolic_v2m.export import find_soundfont
from symbolic_v2m.project import Project, load_project
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = "midi,musicxml,png,project,wav,mp4,stems"
STAGING = ".v2m-partial-"
NOTHING_CHANGED = "interrupted: nothing was changed (no partial outputs were left)\n"
ALL_NEW = "interrupted after the outputs were written: the folder holds the complete new set\n"


def _audio_available() -> bool:
    try:
        find_soundfont()
    except MissingPartError:
        return False
    return shutil.which("ffmpeg") is not None


pytestmark = pytest.mark.skipif(not _audio_available(), reason="FluidSynth or ffmpeg missing")


def _hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones and sub-folders included), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    shots = [SyntheticShot(2.0, speed=0.1, seed=1), SyntheticShot(2.0, speed=0.3, seed=2)]
    folder = tmp_path_factory.mktemp("clip")
    return write_synthetic_clip(folder / "clip.mp4", shots, size=(160, 90)).path


def _compose_args(clip: Path, out: Path, seed: int) -> list[str]:
    return ["compose", str(clip), "--out", str(out), "--seed", str(seed), "--only", EVERYTHING]


def _regenerate_args(out: Path) -> list[str]:
    project = out / "clip.v2m.json"
    return ["regenerate", str(project), "--bars", "1-2", "--stage", "melody", "--seed", "3",
            "--variations", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def sets(clip, tmp_path_factory) -> dict[str, Path]:
    """The old set (seed 1), the new set of ``compose --force`` (seed 2) and of
    ``regenerate`` on the old set, each made by a run that was left to finish."""
    root = tmp_path_factory.mktemp("sets")
    old, composed, regenerated = root / "old", root / "composed", root / "regenerated"
    for args in (_compose_args(clip, old, 1), _compose_args(clip, composed, 2)):
        proc = _cli(*args, "-q")
        assert proc.communicate(timeout=600)[1] == "" and proc.returncode == 0
    shutil.copytree(old, regenerated)
    proc = _cli(*_regenerate_args(regenerated), "-q")
    assert proc.communicate(timeout=600)[1] == "" and proc.returncode == 0
    return {"old": old, "compose": composed, "regenerate": regenerated}


def _folder_with_old_set(sets: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(sets["old"], out)
    return out


def test_the_runs_make_different_sets_the_same_way_every_time(sets, clip, tmp_path) -> None:
    """What the other tests rely on: the new sets differ from the old one in every file the
    run makes anew, and a second run of the same command gives the same bytes."""
    old = _hashes(sets["old"])
    composed, regenerated = _hashes(sets["compose"]), _hashes(sets["regenerate"])
    assert set(composed) == set(old) and len(old) >= 10  # mid, xml, png, json, wav, mp4, stems
    assert composed["clip.mid"] != old["clip.mid"] and composed["clip.wav"] != old["clip.wav"]
    assert "clip.var2.mid" in regenerated
    assert regenerated["clip.v2m.json"] != old["clip.v2m.json"]
    again = tmp_path / "again"
    proc = _cli(*_compose_args(clip, again, 2), "-q")
    proc.communicate(timeout=600)
    assert _hashes(again) == composed


def _staged_files(out: Path) -> list[Path]:
    return [f for d in out.glob(f"{STAGING}*") for f in d.iterdir() if f.is_file()]


def _changed(out: Path, old: dict[str, str]) -> bool:
    """Whether a file in the folder itself differs from the old set (the commit has begun)."""
    for name, digest in old.items():
        path = out / name
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return True
        except OSError:  # moved away for the moment
            return True
    return False


# When to send the SIGINT, as a test on the folder polled every few milliseconds.
POINTS = {
    "first staged file": lambda out, old: len(_staged_files(out)) >= 1,
    "fourth staged file": lambda out, old: len(_staged_files(out)) >= 4,
    "project staged": lambda out, old: any(
        f.name.endswith(".v2m.json") for f in _staged_files(out)
    ),
    "first output changed": _changed,
}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["compose", "regenerate"])
@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupt_leaves_the_old_set_or_the_new_one(sets, clip, tmp_path, command, point):
    out = _folder_with_old_set(sets, tmp_path)
    old, new = _hashes(sets["old"]), _hashes(sets[command])
    args = _compose_args(clip, out, 2) + ["--force"] if command == "compose" else None
    proc = _cli(*(args or _regenerate_args(out)), "-q")
    deadline = time.monotonic() + 300
    while proc.poll() is None and not POINTS[point](out, old):
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    after = _hashes(out)
    assert not [n for n in after if STAGING in n], stderr
    if proc.returncode == 0:  # the run ended before the signal came: the whole new set
        assert point in ("project staged", "first output changed") and after == new
        return
    assert proc.returncode == 130, stderr
    if point == "first output changed":  # the commit had begun: it ends, then the signal
        assert stderr == ALL_NEW
    elif point != "project staged":  # well before the commit
        assert stderr == NOTHING_CHANGED
    assert stderr in (NOTHING_CHANGED, ALL_NEW)
    assert after == (old if stderr == NOTHING_CHANGED else new)


def _fail_after(real, path_arg: int):
    """``real``, made to fail like a full disk once it has written its file."""

    def writer(*args, **kwargs):
        real(*args, **kwargs)
        path = Path(args[path_arg])
        raise OutputError(f"{path}: cannot write (No space left on device); nothing was written")

    return writer


# Each output writer as compose.py calls it, and which argument is the file it writes.
WRITERS = {
    "write_midi": 1,
    "write_stem_midi": 2,
    "write_musicxml": 1,
    "write_timeline_plot": 2,
    "write_wav": 0,
    "mux_audio": 2,
}


def _break(monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    """Make one writer (a name of WRITERS, or Project.save) fail like a full disk."""
    if writer == "Project.save":
        real = Project.save
        monkeypatch.setattr(Project, "save", lambda self, path: _fail_after(real, 1)(self, path))
    else:
        real = getattr(compose_module, writer)
        monkeypatch.setattr(compose_module, writer, _fail_after(real, WRITERS[writer]))


@pytest.mark.parametrize("writer", [*WRITERS, "Project.save"])
def test_a_failing_writer_changes_nothing(sets, clip, tmp_path, monkeypatch, capsys, writer):
    out = _folder_with_old_set(sets, tmp_path)
    _break(monkeypatch, writer)
    assert main(_compose_args(clip, out, 2) + ["--force", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert STAGING not in err and str(out) in err  # the folder the user knows is named
    assert _hashes(out) == _hashes(sets["old"])


@pytest.mark.parametrize("writer", ["write_midi", "write_wav", "Project.save"])
def test_a_failing_writer_changes_nothing_in_a_regeneration(sets, tmp_path, monkeypatch,
                                                             capsys, writer):  # fmt: skip
    out = _folder_with_old_set(sets, tmp_path)
    _break(monkeypatch, writer)
    assert main(_regenerate_args(out) + ["-q"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert _hashes(out) == _hashes(sets["old"])


def test_a_commit_refused_half_way_puts_the_old_set_back(sets, clip, tmp_path, monkeypatch,
                                                          capsys) -> None:  # fmt: skip
    out = _folder_with_old_set(sets, tmp_path)
    real_replace = os.replace
    moves = []

    def replace(src, dst):  # the third new file put in place by the commit is refused
        if Path(dst).parent == out:
            moves.append(dst)
            if len(moves) == 3:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert main(_compose_args(clip, out, 2) + ["--force", "-q"]) == 1
    assert "Input/output error" in capsys.readouterr().err
    assert _hashes(out) == _hashes(sets["old"])


def _broken_soundfont(tmp_path: Path) -> Path:
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"this is not a soundfont" * 40)
    return broken


def test_an_unloadable_soundfont_is_refused_before_any_work(sets, clip, tmp_path, monkeypatch,
                                                             capfd) -> None:  # fmt: skip
    out = _folder_with_old_set(sets, tmp_path)
    broken = _broken_soundfont(tmp_path)

    def no_analysis(*args, **kwargs):
        raise AssertionError("the video was analysed before the soundfont was checked")

    monkeypatch.setattr(compose_module, "analyze_video", no_analysis)
    argv = _compose_args(clip, out, 2) + ["--force", "--soundfont", str(broken)]
    assert main(argv) == 2
    out_text, err = capfd.readouterr()  # the file descriptors: FluidSynth's C output too
    assert out_text == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and str(broken) in err
    assert "FluidSynth cannot load it" in err
    assert _hashes(out) == _hashes(sets["old"])


def test_a_project_whose_soundfont_no_longer_loads(clip, tmp_path, capfd) -> None:
    soundfont = tmp_path / "mine.sf2"
    shutil.copyfile(find_soundfont(), soundfont)
    out = tmp_path / "out"
    argv = ["compose", str(clip), "--out", str(out), "--only", "midi,project,wav"]
    assert main([*argv, "--soundfont", str(soundfont), "-q"]) == 0
    before = _hashes(out)
    soundfont.write_bytes(b"overwritten by something else" * 40)
    capfd.readouterr()
    assert main(["regenerate", str(out / "clip.v2m.json"), "--bars", "1-2", "-q"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and str(soundfont) in err and "clip.v2m.json" in err
    assert _hashes(out) == before


def test_no_soundfont_at_all_removes_the_old_audio_and_says_so(sets, clip, tmp_path,
                                                               monkeypatch, capsys):  # fmt: skip
    """With none asked for and none installed, the audio is skipped with a warning, and the
    previous run's WAV and MP4 leave with the rest of the old set (stale audio would not match
    the new MIDI); the project file no longer lists them."""
    out = _folder_with_old_set(sets, tmp_path)

    def none_installed(path=None):
        raise MissingPartError("no General MIDI soundfont found")

    monkeypatch.setattr(compose_module, "render_audio", lambda midi, sf, **_: none_installed())
    assert main(_compose_args(clip, out, 2) + ["--force"]) == 0
    report = capsys.readouterr().out  # the warnings are part of the report
    assert "warning: no audio" in report
    assert "warning: removed the previous clip.wav" in report
    after = _hashes(out)
    assert not any(name.endswith((".wav", ".mp4")) for name in after)
    new = _hashes(sets["compose"])
    assert {k: v for k, v in new.items() if k in after and k != "clip.v2m.json"} == {
        k: v for k, v in after.items() if k != "clip.v2m.json"
    }
    recorded = load_project(out / "clip.v2m.json").outputs
    assert "wav" not in recorded and "mp4" not in recorded and "midi" in recorded
