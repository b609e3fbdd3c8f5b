"""Chord, melody and accompaniment stages: a timeline (+ earlier parts) -> one part.

Each stage builds the :class:`~symbolic_v2m.music.tokens.StageContext` from the timeline and the
parts already written, turns the timeline's controls into
:class:`~symbolic_v2m.model.Constraints` (densities per bar; for the accompaniment the strong
visual beats as required onsets with forced strengths), adds the caller's constraints (a given
progression, scale lock, pitch range), generates ``candidates`` versions in one batch, and keeps
the best by control adherence and simple music-theory scores (:mod:`.scoring`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from symbolic_v2m.model import Constraints, CPTransformer, LogitHook, SamplingConfig, generate
from symbolic_v2m.music.score import Chord, KeyChange, Note, Role
from symbolic_v2m.music.tokens import StageContext, TokenSequence, decode_part
from symbolic_v2m.stages.scoring import score_candidate
from symbolic_v2m.timeline import Timeline

#: Comfortable written ranges (MIDI pitch): outside them a soft penalty (logit bias) applies.
PITCH_RANGES = {Role.MELODY: (55, 88), Role.ACCOMPANIMENT: (28, 84)}
RANGE_PENALTY = 3.0


@dataclass(frozen=True)
class StageRequest:
    """What the caller asks of a stage beyond the timeline.

    ``forced_chords`` maps a bar to the chords it must have, as dicts of ``position``, ``root``,
    ``quality``, ``bass`` (a user's progression). ``pitch_bias`` is added to the pitch logits at
    every tick (scale lock; ``-inf`` masks). ``prompt`` is a token prefix to continue from, and
    ``end_bar`` stops generation before that bar (regenerating a span). ``keys`` replaces the
    timeline's single key (e.g. a modulation for a regenerated span). ``hooks`` are extra logit
    masks (the strict scale lock's chord mask, :class:`~.theory_constraints.StrictChords`).
    """

    forced_chords: dict[int, list[dict]] = field(default_factory=dict)
    pitch_bias: np.ndarray | None = None
    pitch_range: tuple[int, int] | None = None
    prompt: np.ndarray | None = None
    end_bar: int | None = None
    keys: tuple[KeyChange, ...] | None = None
    hooks: tuple[LogitHook, ...] = ()


@dataclass(frozen=True)
class StageConfig:
    """Generation settings shared by the stages."""

    candidates: int = 2
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0


@dataclass(frozen=True)
class StageResult:
    """A stage's chosen part, its tokens, and every candidate's score."""

    role: Role
    events: tuple[Note, ...] | tuple[Chord, ...]
    tokens: TokenSequence
    scores: tuple[float, ...]
    chosen: int
    candidates: tuple[tuple, ...] = ()  # every candidate's events, in generation order


def stage_context(
    timeline: Timeline,
    chords: tuple[Chord, ...] = (),
    melody: tuple[Note, ...] = (),
    keys: tuple[KeyChange, ...] | None = None,
) -> StageContext:
    """The context families a stage sees: the timeline's bars, key and sections, and the parts
    already written."""
    keys = keys or (timeline.key,)
    return StageContext.build(timeline.meters, keys, timeline.phrase_starts, chords, melody)


def _range_bias(length: int, low: int, high: int) -> np.ndarray:
    pitches = np.arange(128)
    distance = np.maximum(low - pitches, 0) + np.maximum(pitches - high, 0)
    row = (-RANGE_PENALTY * np.minimum(distance, 12) / 6.0).astype(np.float32)
    return np.broadcast_to(row, (length, 128))


def write_part(
    role: Role | str,
    timeline: Timeline,
    model: CPTransformer,
    chords: tuple[Chord, ...] = (),
    melody: tuple[Note, ...] = (),
    request: StageRequest = StageRequest(),
    config: StageConfig = StageConfig(),
    progress: Callable[[float, float], None] | None = None,
) -> StageResult:
    """Write one stage's part for ``timeline`` (see the module doc).

    ``progress(done, total)`` counts the bars written of those asked for (after the prompt,
    up to ``request.end_bar``), every candidate finished with them; at most once a bar."""
    role = Role(role)
    if model.spec.role is not role:
        raise ValueError(f"a {model.spec.role.value} model cannot write the {role.value} part")
    context = stage_context(timeline, chords, melody, request.keys)
    meters = timeline.meters if request.end_bar is None else timeline.meters[: request.end_bar]
    density = np.array(timeline.density[role.value], dtype=np.int64)[: len(meters)]
    bias = None
    if role is not Role.CHORD:
        low, high = request.pitch_range or PITCH_RANGES[role]
        bias = np.array(_range_bias(context.length, low, high))
        if request.pitch_bias is not None:
            bias = bias + request.pitch_bias[: context.length]
    strength = onsets = None
    # the timeline's densities already leave room for these required onsets
    if role is Role.ACCOMPANIMENT and timeline.strength:
        strength = timeline.strength_array()
        onsets = np.zeros(context.length, dtype=bool)
        onsets[list(timeline.onsets)] = True
    elif role is Role.MELODY and timeline.melody_onsets:
        onsets = np.zeros(context.length, dtype=bool)
        onsets[[t for t in timeline.melody_onsets if t < context.length]] = True
    constraints = Constraints(
        meters=meters,
        density=density,
        strength=strength,
        pitch_bias=bias,
        onsets=onsets,
        forced_events=request.forced_chords if role is Role.CHORD else {},
        hooks=request.hooks,
    )
    on_bar = None
    if progress is not None:
        # the prompt (regeneration) holds the bars before the span, up to its first bar line
        prompted = 0
        if request.prompt is not None and len(request.prompt):
            prompted = int(np.sum(request.prompt[:, 0] == model.spec.type_index("bar")))
        reported = -1

        def on_bar(bars: int) -> None:
            nonlocal reported
            done = max(0, bars - prompted)
            if done > reported:
                reported = done
                progress(done, len(meters) - prompted)

    candidates = generate(
        model,
        context,
        constraints,
        config.sampling,
        n=config.candidates,
        prompt=request.prompt,
        seed=config.seed,
        on_bar=on_bar,
    )
    parts = [decode_part(c, timeline.tempo.ticks_per_beat).events for c in candidates]
    scores = tuple(
        score_candidate(role, events, timeline, density, chords=chords, melody=melody)
        for events in parts
    )
    best = int(np.argmax(scores))
    return StageResult(role, parts[best], candidates[best], scores, best, tuple(parts))


def with_seed(config: StageConfig, seed: int) -> StageConfig:
    """``config`` with another seed (one per stage, so stages do not share random streams)."""
    return replace(config, seed=seed)
