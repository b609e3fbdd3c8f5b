"""The stages turn a timeline into parts that meet its controls exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symbolic_v2m.data import load_calibration
from symbolic_v2m.model import CPTransformer, ModelConfig
from symbolic_v2m.model.sampling import _MAX_EXTRA_NOTES
from symbolic_v2m.music import Role
from symbolic_v2m.music.score import KeyChange
from symbolic_v2m.music.vocab import MAX_STRENGTH
from symbolic_v2m.stages import StageConfig, StageRequest, write_part
from symbolic_v2m.timeline import build_timeline
from tests.timeline.test_timeline import _features


def _model(stage: str) -> CPTransformer:
    torch.manual_seed(1)
    config = ModelConfig(stage=stage, d_model=32, n_layers=1, n_heads=2, d_ff=64, dropout=0.0)
    return CPTransformer(config).eval()


@pytest.fixture(scope="module")
def timeline():
    return build_timeline(_features([0.0, 0.4, 0.02]), load_calibration())


def _realised(events, timeline) -> list[int]:
    starts = timeline.bar_starts
    return [
        len({e.onset for e in events if a <= e.onset < b})
        for a, b in zip(starts[:-1], starts[1:], strict=True)
    ]


def test_three_stages_meet_the_timeline(timeline) -> None:
    config = StageConfig(candidates=3, seed=4)
    chords = write_part(Role.CHORD, timeline, _model("chord"), config=config)
    assert len(chords.scores) == 3 and chords.chosen == int(np.argmax(chords.scores))
    assert chords.events[0].onset == 0
    assert _realised(chords.events, timeline) == list(timeline.density["chord"])
    melody = write_part(
        Role.MELODY, timeline, _model("melody"), chords=chords.events, config=config
    )
    assert _realised(melody.events, timeline) == list(timeline.density["melody"])
    low, high = 55 - 12, 88 + 12  # the soft range bias keeps an untrained model near the range
    assert all(low <= n.pitch <= high for n in melody.events)
    acc = write_part(
        Role.ACCOMPANIMENT,
        timeline,
        _model("accompaniment"),
        chords=chords.events,
        melody=melody.events,
        config=config,
    )
    assert _realised(acc.events, timeline) == list(timeline.density["accompaniment"])
    for tick, strength in timeline.strength:
        notes = sum(n.onset == tick for n in acc.events)
        # the vocabulary's top strength means "at least that many" (as the adherence counts it)
        assert min(notes, MAX_STRENGTH) == strength
        assert notes <= MAX_STRENGTH + _MAX_EXTRA_NOTES


def test_a_given_progression_and_a_strict_scale_are_obeyed(timeline) -> None:
    forced = {
        0: [{"position": 0, "root": 2, "quality": "min", "bass": 2}],
        1: [
            {"position": 0, "root": 7, "quality": "7", "bass": 7},
            {"position": 8, "root": 0, "quality": "maj", "bass": 0},
        ],
    }
    chords = write_part(
        Role.CHORD, timeline, _model("chord"), request=StageRequest(forced_chords=forced)
    )
    assert [(c.onset, c.root, c.quality) for c in chords.events if c.onset < 32] == [
        (0, 2, "min"),
        (16, 7, "7"),
        (24, 0, "maj"),
    ]
    bias = np.full((timeline.length, 128), -np.inf)
    c_major = [p for p in range(128) if p % 12 in (0, 2, 4, 5, 7, 9, 11)]
    bias[:, c_major] = 0.0
    melody = write_part(
        Role.MELODY,
        timeline,
        _model("melody"),
        chords=chords.events,
        request=StageRequest(pitch_bias=bias),
    )
    assert melody.events and all(n.pitch in c_major for n in melody.events)


def test_a_stage_refuses_another_stages_model(timeline) -> None:
    with pytest.raises(ValueError, match="melody model"):
        write_part(Role.CHORD, timeline, _model("melody"))


@pytest.mark.parametrize(
    "keys",
    [
        (KeyChange(0, 0, "major"),),
        (KeyChange(0, 4, "minor"),),
        (KeyChange(0, 10, "major"),),
        (KeyChange(0, 6, "major"), KeyChange(16, 3, "minor")),  # a change on bar 2's line
    ],
    ids=["C", "Em", "Bb", "F#-to-Ebm"],
)
def test_the_strict_chord_mask_keeps_an_untrained_chord_model_in_the_key(timeline, keys):
    """Every candidate's every chord (bass included) is in the strict set of its bar's key;
    without the mask the same untrained model writes chords outside it."""
    from symbolic_v2m.music.chords import chord_pitch_classes
    from symbolic_v2m.stages.theory_constraints import StrictChords, key_at, strict_set

    config = StageConfig(candidates=4, seed=2)
    hook = StrictChords(keys, timeline.bar_starts)
    masked = write_part(
        Role.CHORD, timeline, _model("chord"), request=StageRequest(keys=keys, hooks=(hook,)),
        config=config,
    )  # fmt: skip
    free = write_part(
        Role.CHORD, timeline, _model("chord"), request=StageRequest(keys=keys), config=config
    )

    def outside(candidates) -> int:
        return sum(
            bool(chord_pitch_classes(c.root, c.quality, c.bass) - strict_set(key_at(keys, c.onset)))
            for events in candidates
            for c in events
        )

    assert sum(len(events) for events in masked.candidates) >= 8
    assert outside(masked.candidates) == 0
    assert outside(free.candidates) > 0
    # the root and bass are chosen knowing the quality: no candidate needed a forced fallback
    assert all(c.quality == "N" or c.root is not None for e in masked.candidates for c in e)


@pytest.mark.parametrize("role", list(Role))
def test_cut_prompts_write_the_part_the_whole_prompts_write(role: Role, monkeypatch) -> None:
    """A part written in segments around repeated bars gives each segment the piece before it
    as a prompt cut at a bar line, keeping at least the model's context window of tokens: the
    part and every segment's score are those the whole prompts give."""
    from symbolic_v2m.model import sampling
    from symbolic_v2m.stages import write

    long = build_timeline(_features([0.3, 0.5, 0.1, 0.6] * 2), load_calibration())
    n_bars = len(long.meters)
    copies = {bar: bar - 4 for bar in range(6, n_bars, 3)}  # a repeated bar every third
    window = 24  # far below these parts' length; the cache trims 4 positions at a time
    monkeypatch.setattr(sampling, "WINDOW_SLACK", 4)

    def small(stage: str) -> CPTransformer:
        torch.manual_seed(2)
        config = ModelConfig(
            stage=stage, d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.0, max_context=window
        )
        return CPTransformer(config).eval()

    config = StageConfig(candidates=2, seed=5)
    chords = write_part(Role.CHORD, long, small("chord"), config=config).events
    melody = write_part(Role.MELODY, long, small("melody"), chords=chords, config=config).events
    model = small(role.value)
    cut_at: list[int] = []
    cut_bar = write._cut_bar

    def spy(*args) -> int:
        cut_at.append(cut_bar(*args))
        return cut_at[-1]

    monkeypatch.setattr(write, "_cut_bar", spy)
    request = StageRequest(copies=copies)
    cut = write_part(role, long, model, chords, melody, request, config)
    assert max(cut_at) > 0  # later segments were given cut prompts
    monkeypatch.setattr(write, "_cut_bar", lambda *args: 0)
    whole = write_part(role, long, model, chords, melody, request, config)
    assert cut.events == whole.events
    assert cut.scores == whole.scores
    assert len(cut.scores) > 3
