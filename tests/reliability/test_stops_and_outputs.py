"""Interruptions, unwritable outputs, determinism and option errors: nothing is ever lost.

Every case asserts the exit status, the one-line message, and that no output (and no temporary
file) was written, or that the project file is byte-for-byte unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _decoding(pid: int, video: Path) -> bool:
    """True once the CLI's ffmpeg decodes ``video`` (its signal handlers are set by then; an
    ffmpeg child alone proves nothing: PySceneDetect runs one at import to probe for it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):  # a child that has just exited
                if str(video) in Path(f"/proc/{child}/cmdline").read_bytes().decode():
                    return True
    return False


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough (3 minutes of small frames) that a composition is still running when it is
    stopped."""
    shots = [SyntheticShot(15.0, speed=0.05 * (i % 4), seed=i) for i in range(12)]
    folder = tmp_path_factory.mktemp("long")
    return write_synthetic_clip(folder / "long.mp4", shots, size=(160, 90), fps=Fraction(15)).path


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_stopped_composition_leaves_nothing(long_clip, tmp_path, signum, code, word) -> None:
    out = tmp_path / "out"
    proc = _cli("compose", str(long_clip), "--out", str(out), "--candidates", "8", "-q")
    deadline = time.monotonic() + 60
    while proc.poll() is None and not _decoding(proc.pid, long_clip):
        assert time.monotonic() < deadline, "the composition never started decoding"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stderr == f"{word}: nothing was changed (no partial outputs were left)\n"
    assert stdout == ""
    assert not out.exists() or not list(out.iterdir())


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    shots = [SyntheticShot(2.0, speed=0.1, seed=1), SyntheticShot(2.0, speed=0.3, seed=2)]
    folder = tmp_path_factory.mktemp("short")
    return write_synthetic_clip(folder / "short.mp4", shots, size=(160, 90)).path


def test_an_unwritable_output_folder_is_found_before_any_work(short_clip, tmp_path, monkeypatch,
                                                                 capsys) -> None:  # fmt: skip
    out = tmp_path / "locked"
    out.mkdir()
    real_access = os.access

    def access(path, mode) -> bool:  # a read-only folder (as root, chmod would not stop us)
        return not (Path(path) == out and mode & os.W_OK) and real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    code = main(["compose", str(short_clip), "--out", str(out), "--only", "midi,project"])
    assert code == 1
    err = capsys.readouterr().err
    assert err == f"error: {out / 'short.mid'}: folder {out} is not writable\n"
    assert list(out.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_for_real(short_clip, tmp_path, capsys) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(["compose", str(short_clip), "--out", str(out), "--only", "midi"]) == 1
        assert "is not writable" in capsys.readouterr().err
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_while_writing_leaves_no_partial_file(short_clip, tmp_path, monkeypatch,
                                                            capsys, number) -> None:  # fmt: skip
    out = tmp_path / "out"

    def refuse(src, dst):  # the disk fills up as the finished file is put in place
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["compose", str(short_clip), "--out", str(out), "--only", "midi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / 'short.mid'}: cannot write ({os.strerror(number)}")
    assert err.count("\n") == 1 and "nothing was written there" in err
    assert not out.exists()  # the temporary files are gone, and the folder the run made


def test_a_failed_regeneration_leaves_the_project_untouched(short_clip, tmp_path, monkeypatch,
                                                             capsys) -> None:  # fmt: skip
    out = tmp_path / "out"
    assert main(["compose", str(short_clip), "--out", str(out), "--only", "midi,project"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith(".mid"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    project = out / "short.v2m.json"
    assert main(["regenerate", str(project), "--bars", "1-2", "--only", "midi"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_same_seed_gives_the_same_midi_for_any_thread_count(short_clip, tmp_path) -> None:
    """The shipped models, one and two CPU threads, separate processes."""
    written = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        proc = _cli("compose", str(short_clip), "--out", str(out), "--only", "midi",
                    "--threads", threads, "--device", "cpu", "--seed", "5", "-q")  # fmt: skip
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        written.append((out / "short.mid").read_bytes())
    assert written[0] == written[1]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["compose", "{clip}", "--tempo", "10"], "--tempo"),
        (["compose", "{clip}", "--style", "polka"], "--style"),
        (["compose", "{clip}", "--candidates", "0"], "--candidates"),
        (["compose", "{clip}", "--seed", "-1"], "--seed"),
        (["compose", "{clip}", "--only", "midi,gif"], "--only"),
        (["compose", "{clip}", "--energy", "3"], "--energy"),
        (["compose", "{clip}", "--range", "melody=C9-C2"], "--range"),
        (["compose", "{clip}", "--instrument", "melody=kazoo9"], "--instrument"),
        (["compose", "{clip}", "--key", "H major"], "--key"),
        (["compose", "{clip}", "--progression", "I XYZ"], "--progression"),
        (["compose", "{clip}", "--time-signature", "5/4"], "--time-signature"),
        (["compose", "{clip}", "--threads", "0"], "--threads"),
        (["compose", "{clip}", "--weights", "{missing}"], "--weights"),
        (["compose", "{clip}", "--max-tempo-change", "2"], "--max-tempo-change"),
        (["analyze", "{clip}", "--detector", "magic"], "--detector"),
        (["analyze", "{clip}", "--threshold", "-3"], "--threshold"),
        (["analyze", "{clip}", "--fps", "fast"], "--fps"),
    ],
)
def test_every_bad_option_value_is_a_usage_error_naming_it(short_clip, tmp_path, capsys,
                                                            monkeypatch, args, option):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    argv = [a.format(clip=short_clip, missing=tmp_path / "nope") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert option in err
    assert list(tmp_path.iterdir()) == []  # nothing written (not even out/)
