"""The shipped weights: present, small, loadable, and they write music through the chain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symbolic_v2m.model import Constraints, default_model, default_weights_path, generate
from symbolic_v2m.music import KeyChange, Role, StageContext, TimeSignature, decode_part

STAGES = ("chord", "melody", "accompaniment")


def test_weights_and_cards_are_shipped_and_small() -> None:
    total = 0
    for stage in STAGES:
        path = default_weights_path(stage)
        assert path.is_file(), f"{path} missing"
        total += path.stat().st_size
        card = path.with_suffix(".md").read_text()
        for heading in (
            "## Data",
            "## Model",
            "## Training",
            "valid loss",
            "symbolic-v2m train",
            "## Sample sanity",
        ):
            assert heading in card, f"{stage} card lacks {heading!r}"
    assert total <= 60e6


@pytest.mark.parametrize("stage", STAGES)
def test_default_models_load_as_float32(stage: str) -> None:
    model = default_model(stage, "cpu")
    assert model.spec.role is Role(stage)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_the_three_default_models_write_a_piece() -> None:
    meters = (TimeSignature(4, 4),) * 4
    keys = (KeyChange(0, 7, "major"),)
    ctx = StageContext.build(meters, keys, (2,))
    chords = decode_part(
        generate(default_model("chord", "cpu"), ctx, Constraints(meters), seed=1)[0]
    ).events
    assert chords[0].onset == 0 and sum(c.duration for c in chords) == 64
    ctx = StageContext.build(meters, keys, (2,), chords)
    density = np.array([4, 6, 3, 2])
    melody = decode_part(
        generate(default_model("melody", "cpu"), ctx, Constraints(meters, density=density), seed=1)[
            0
        ]
    ).events
    assert len({n.onset for n in melody}) == density.sum()
    ctx = StageContext.build(meters, keys, (2,), chords, melody)
    acc = decode_part(
        generate(
            default_model("accompaniment", "cpu"),
            ctx,
            Constraints(meters, density=np.array([8, 8, 4, 4])),
            seed=1,
        )[0]
    ).events
    assert len({n.onset for n in acc}) == 24
