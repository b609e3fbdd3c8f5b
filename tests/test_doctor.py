"""`symbolic-v2m doctor`: what is installed and what a missing part disables."""

from __future__ import annotations

import sys

from symbolic_v2m.cli import main
from symbolic_v2m.doctor import check_system


def test_doctor_finds_what_the_setup_installed(capsys) -> None:
    checks = {c.name: c for c in check_system()}
    assert checks["torch"].ok and checks["default weights"].ok
    assert main(["doctor"]) == (0 if all(c.ok for c in checks.values() if c.required) else 1)
    out = capsys.readouterr().out
    assert all(name in out for name in checks)


def test_missing_parts_say_what_they_disable(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg, ffprobe or mscore3 here
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # the library cannot be imported
    checks = {c.name: c for c in check_system()}
    assert not checks["ffmpeg"].ok and checks["ffmpeg"].required
    assert not checks["FluidSynth library"].ok and not checks["FluidSynth library"].required
    assert main(["doctor"]) == 1
    captured = capsys.readouterr()
    assert "MISSING ffmpeg" in captured.out and "apt-get install ffmpeg" in captured.out
    assert "needed for: the WAV and the MP4" in captured.out
    assert captured.err.strip() == "error: required part(s) missing: ffmpeg, ffprobe"
