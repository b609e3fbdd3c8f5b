"""Output files get the permissions a plain ``open()`` would give them, judged from the files
written (the atomic write once handed its temporary file's 0600 on to every output)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symbolic_v2m.compose import OUTPUTS, ComposeConfig, compose
from symbolic_v2m.export import atomic_output


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for a test; the previous one comes back afterwards."""
    previous = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_output_gets_the_mode_open_would_give(tmp_path, umask, mask) -> None:
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as fh:  # what the user expects
        fh.write("x")
    with atomic_output(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "plain.txt") == 0o666 & ~mask


def test_an_overwritten_output_keeps_its_mode(tmp_path, umask) -> None:
    umask(0o022)
    path = tmp_path / "shared.json"
    path.write_text("old")
    path.chmod(0o640)
    with atomic_output(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and _mode(path) == 0o640


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_every_composed_output_has_the_umask_mode(
    varied_clip, tiny_weights, tmp_path, umask, mask
) -> None:
    """All outputs of one composition, the rendered, muxed and stem ones included."""
    clip, _ = varied_clip
    umask(mask)
    config = ComposeConfig(weights_dir=str(tiny_weights), candidates=1, outputs=OUTPUTS)
    result = compose(clip.path, tmp_path / "out", config)
    written = list(result.files.values())
    assert {p.suffix for p in written} >= {".mid", ".musicxml", ".png", ".json"}
    for path in written:
        assert _mode(path) == 0o666 & ~mask, (path.name, oct(_mode(path)))
    # --force keeps what the user set on a file
    midi = result.files["midi"]
    midi.chmod(0o600)
    compose(clip.path, tmp_path / "out", config, force=True)
    assert _mode(midi) == 0o600
    assert _mode(result.files["project"]) == 0o666 & ~mask
