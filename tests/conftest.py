"""Shared fixtures: synthetic clips with known ground truth, and the ../shared data marker."""

from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.model import CPTransformer, ModelConfig, save_model
from symbolic_v2m.video.synthetic import SyntheticClip, SyntheticShot, write_synthetic_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# `make test` draws the same examples every run, so a red CI is the change's doing and can be
# rerun; `make fuzz` (HYPOTHESIS_PROFILE=explore) draws new ones each time, to find new bugs.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"{SHARED} not found (shared_data tests need ../shared)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


# Still < slow < medium < fast, 2 s each, hard cuts between them (diag/s).
SHOT_SPEEDS = (0.0, 0.05, 0.15, 0.4)


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def speed_clip(clips_dir: Path) -> SyntheticClip:
    """Four 2-second shots at SHOT_SPEEDS, in different directions, 640x360 at 30 fps."""
    shots = [
        SyntheticShot(2.0, speed=speed, direction=70.0 * i + 10, seed=11 + i)
        for i, speed in enumerate(SHOT_SPEEDS)
    ]
    return write_synthetic_clip(clips_dir / "speeds.mp4", shots)


@pytest.fixture(scope="session")
def accent_clip(clips_dir: Path) -> SyntheticClip:
    """One smoothly moving 6-second shot with reversals every 0.5 s from 1 s, and two flashes."""
    reversals = tuple(1.0 + 0.5 * k for k in range(8))  # 1.0 .. 4.5 s
    shot = SyntheticShot(
        6.0, speed=0.2, direction=30.0, seed=5, reversals=reversals, flashes=(5.2,)
    )
    return write_synthetic_clip(clips_dir / "accents.mp4", [shot], fps=Fraction(30))


@pytest.fixture(scope="session")
def pan_clip(clips_dir: Path) -> SyntheticClip:
    """A single 5-second smooth pan (no cuts) followed by nothing: for false-cut checks."""
    return write_synthetic_clip(
        clips_dir / "pan.mp4", [SyntheticShot(5.0, speed=0.3, direction=0.0, seed=21)]
    )


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained small models: the tests judge structure and alignment, not musicality."""
    folder = tmp_path_factory.mktemp("weights")
    for stage in ("chord", "melody", "accompaniment"):
        torch.manual_seed(0)
        config = ModelConfig(stage=stage, d_model=32, n_layers=1, n_heads=2, d_ff=64)
        save_model(CPTransformer(config), folder / f"{stage}.safetensors")
    return folder


@pytest.fixture(scope="session")
def varied_clip(tmp_path_factory: pytest.TempPathFactory):
    """Six 2.5-second shots from still to fast and back, hard cuts between them."""
    speeds = (0.0, 0.05, 0.4, 0.15, 0.6, 0.02)
    shots = [
        SyntheticShot(2.5, speed=s, direction=40.0 * i, seed=3 + i) for i, s in enumerate(speeds)
    ]
    clip = write_synthetic_clip(tmp_path_factory.mktemp("clip") / "varied.mp4", shots)
    return clip, speeds


@pytest.fixture(scope="session")
def tiny_composition(varied_clip, tiny_weights, tmp_path_factory) -> Path:
    """A composition (MIDI + project file) of the varied clip with the tiny models, made once;
    tests that change it take a private copy through :func:`project`."""
    clip, _ = varied_clip
    out = tmp_path_factory.mktemp("composition")
    config = ComposeConfig(weights_dir=str(tiny_weights), outputs=("midi", "project"), seed=2)
    compose(clip.path, out, config)
    return out


@pytest.fixture
def project(tiny_composition: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`tiny_composition` (regeneration rewrites files in place)."""
    copy_dir = tmp_path / "work"
    shutil.copytree(tiny_composition, copy_dir)
    return next(copy_dir.glob("*.v2m.json"))
