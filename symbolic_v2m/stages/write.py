"""Chord, melody and accompaniment stages: a timeline (+ earlier parts) -> one part.

Each stage builds the :class:`~symbolic_v2m.music.tokens.StageContext` from the timeline and the
parts already written, turns the timeline's controls into
:class:`~symbolic_v2m.model.Constraints` (densities per bar; for the accompaniment the strong
visual beats as required onsets with forced strengths), adds the caller's constraints (a given
progression, scale lock, pitch range), generates ``candidates`` versions in one batch, and keeps
the best by control adherence and simple music-theory scores (:mod:`.scoring`).

When the form plan repeats bars (``StageRequest.copies``), the part is written in segments:
the model writes up to the next repeated bar, the bar is copied from its source and fitted to
its own controls (:mod:`.repeat`), and the model carries on with the copy in its context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from symbolic_v2m.model import Constraints, CPTransformer, LogitHook, SamplingConfig, generate
from symbolic_v2m.music.score import Chord, KeyChange, Note, Role
from symbolic_v2m.music.tokens import PartDecoder, StageContext, TokenSequence
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
    ``copies`` maps a bar to an earlier bar it repeats (the form plan's, for this stage);
    ``given`` is this part as it stands (regeneration), where a copy's source before the span
    is read from.
    """

    forced_chords: dict[int, list[dict]] = field(default_factory=dict)
    pitch_bias: np.ndarray | None = None
    pitch_range: tuple[int, int] | None = None
    prompt: np.ndarray | None = None
    end_bar: int | None = None
    keys: tuple[KeyChange, ...] | None = None
    hooks: tuple[LogitHook, ...] = ()
    copies: dict[int, int] = field(default_factory=dict)
    given: tuple[Note, ...] | tuple[Chord, ...] = ()


@dataclass(frozen=True)
class StageConfig:
    """Generation settings shared by the stages."""

    candidates: int = 2
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0


@dataclass(frozen=True)
class StageResult:
    """A stage's chosen part, its tokens, and every candidate's score (written in segments
    around repeated bars: one version, and the chosen score of each segment)."""

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
    if request.copies:
        return _write_with_copies(role, timeline, model, chords, melody, request, config, progress)
    return _write_span(role, timeline, model, chords, melody, request, config, progress)


def _write_span(
    role: Role,
    timeline: Timeline,
    model: CPTransformer,
    chords: tuple[Chord, ...],
    melody: tuple[Note, ...],
    request: StageRequest,
    config: StageConfig,
    progress: Callable[[float, float], None] | None,
    context: StageContext | None = None,
    prompt_bar: int = 0,
    before: tuple = (),
) -> StageResult:
    """One generation call: the prompt, then every bar up to ``request.end_bar``.

    For a part written in segments around repeated bars: ``context`` is the stage's, built
    once for all segments; ``prompt_bar`` > 0 says ``request.prompt`` was cut at that bar's line
    (:func:`~symbolic_v2m.model.generate`), and ``before`` holds the part's events before it, in
    decoding order, so that candidates are scored on the whole part as before the cut."""
    context = context or stage_context(timeline, chords, melody, request.keys)
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
        prompted = prompt_bar + _prompted_bars(request.prompt, model)
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
        prompt_bar=prompt_bar,
    )
    prompt_length = 0 if request.prompt is None else len(request.prompt)
    start = int(context.bar_starts[prompt_bar])
    parts = _decode_candidates(
        candidates, role, prompt_length, timeline.tempo.ticks_per_beat, start, before
    )
    scores = tuple(
        score_candidate(role, events, timeline, density, chords=chords, melody=melody)
        for events in parts
    )
    best = int(np.argmax(scores))
    return StageResult(role, parts[best], candidates[best], scores, best, tuple(parts))


def _decode_candidates(
    candidates: list[TokenSequence],
    role: Role,
    prompt_length: int,
    ticks_per_beat: int,
    start: int = 0,
    before: tuple = (),
) -> list[tuple]:
    """Each candidate's events, ``before`` first; the prompt they share (the piece before a
    segment), which starts at tick ``start``, is read once."""
    shared = PartDecoder(role, ticks_per_beat, start)
    shared.feed(candidates[0].tokens[:prompt_length])
    parts = []
    for candidate in candidates:
        decoder = shared.fork()
        decoder.feed(candidate.tokens[prompt_length:])
        parts.append(before + decoder.part().events)
    return parts


def with_seed(config: StageConfig, seed: int) -> StageConfig:
    """``config`` with another seed (one per stage, so stages do not share random streams)."""
    return replace(config, seed=seed)


def _prompted_bars(prompt: np.ndarray | None, model: CPTransformer) -> int:
    """Bars a prompt holds (its bar tokens): where the writing starts."""
    if prompt is None or not len(prompt):
        return 0
    return int(np.sum(prompt[:, 0] == model.spec.type_index("bar")))


def _write_with_copies(
    role: Role,
    timeline: Timeline,
    model: CPTransformer,
    chords: tuple[Chord, ...],
    melody: tuple[Note, ...],
    request: StageRequest,
    config: StageConfig,
    progress: Callable[[float, float], None] | None,
) -> StageResult:
    """The part in segments around the repeated bars (module doc)."""
    from symbolic_v2m.music.chords import chord_pitch_classes
    from symbolic_v2m.music.score import Score, sort_notes
    from symbolic_v2m.music.tokens import encode_part
    from symbolic_v2m.stages.repeat import (
        copy_chords,
        copy_notes,
        fit_accompaniment_bar,
        fit_duration,
        fit_melody_bar,
    )
    from symbolic_v2m.stages.splice import prompt_before

    starts = timeline.bar_starts
    n_bars = request.end_bar if request.end_bar is not None else len(timeline.meters)
    first = _prompted_bars(request.prompt, model)
    keys = request.keys or (timeline.key,)
    events: list = [e for e in request.given if e.onset < starts[first]]
    copies = {b: s for b, s in request.copies.items() if first <= b < n_bars and s < b}
    strength = timeline.strength_array() if role is Role.ACCOMPANIMENT else None
    hits = timeline.melody_onsets
    melody_onsets = frozenset(n.onset for n in melody)
    total = n_bars - first
    context = stage_context(timeline, chords, melody, keys)

    def as_score(part: list) -> Score:
        fields = {"chords": chords, "melody": melody}
        if role is Role.CHORD:
            fields["chords"] = tuple(sorted(part, key=lambda c: c.onset))
        else:
            fields[role.value] = sort_notes(part)
        return Score(
            meters=timeline.meters,
            tempo=timeline.tempo,
            keys=keys,
            phrase_starts=timeline.phrase_starts,
            **fields,
        ).normalised()

    harmony = Score(meters=timeline.meters, tempo=timeline.tempo, chords=chords)

    def chord_tones(tick: int) -> frozenset[int]:
        c = harmony.chord_at(tick)
        if c is None or c.root is None:
            return frozenset()
        return frozenset(chord_pitch_classes(c.root, c.quality, c.bass))

    held_over: dict[int, bool] = {}

    def copied(bar: int, source: int) -> list | None:
        src = (int(starts[source]), int(starts[source + 1]))
        target = (int(starts[bar]), int(starts[bar + 1]))
        if role is Role.CHORD:
            chords_in_bar, held = copy_chords(tuple(events), src, target[0])
            held_over[bar] = held
            return chords_in_bar
        notes = copy_notes(tuple(events), src, target[0])
        density = timeline.density[role.value][bar]
        if role is Role.MELODY:
            return fit_melody_bar(notes, target, density, hits, timeline.tempo.ticks_per_beat)
        return fit_accompaniment_bar(
            notes,
            target,
            density,
            strength,
            chord_tones,
            timeline.tempo.ticks_per_beat,
            melody_onsets,
        )

    def place(bar: int, new: list) -> None:
        nonlocal events
        start = int(starts[bar])
        kept = [e for e in events if e.onset < start]
        if role is Role.CHORD:  # the chord before sounds up to the copied bar, and stops there
            kept = [
                replace(c, duration=start - c.onset) if c.offset > start else c
                for c in _tiled(kept, start)
            ]
            # ... unless the source held that same chord over its bar line: hold it here too
            if new and held_over.get(bar) and kept and kept[-1].offset == start:
                last, head = kept[-1], new[0]
                if (last.root, last.quality, last.bass) == (head.root, head.quality, head.bass):
                    kept[-1] = replace(last, duration=last.duration + head.duration)
                    new = new[1:]
        elif role is Role.MELODY and new:  # one line: what sounds on stops at the copy
            onset = min(n.onset for n in new)
            kept = [
                replace(n, duration=fit_duration(onset - n.onset)) if n.offset > onset else n
                for n in kept
            ]
        events = kept + new

    reported = -1

    def report(done: int) -> None:
        # segments start by reporting the bars before them: pass on only what grows
        nonlocal reported
        if progress is not None and done > reported:
            reported = done
            progress(done, total)

    report(0)
    cursor, segment, scores = first, 0, []
    while cursor < n_bars:
        if cursor in copies:
            new = copied(cursor, copies[cursor])
            if new is not None:
                place(cursor, new)
                cursor += 1
                report(cursor - first)
                continue
        stop = min([b for b in copies if b > cursor] + [n_bars])
        prompt, prompt_bar, before = None, 0, ()
        if cursor == first and request.prompt is not None:
            prompt = request.prompt
        elif cursor > 0:
            # the model sees the last max_context tokens: cut the prompt at the latest bar line
            # that still leaves it those, so each segment costs its own length, not the piece's
            window = model.config.max_context
            prompt_bar = _cut_bar(events, role, starts, cursor, window)
            cut = int(starts[prompt_bar])
            tail = [e for e in events if e.onset >= cut] if prompt_bar else events
            prompt = prompt_before(as_score(tail), role, cursor, context, prompt_bar)
            # _cut_bar counts as encode_part writes: a shorter cut prompt would change the music
            assert not prompt_bar or len(prompt) >= window
            if prompt_bar:
                head = [e for e in events if e.onset < cut]
                if role is Role.CHORD:
                    before = tuple(sorted(head, key=lambda c: c.onset))
                else:
                    before = sort_notes(head)
        offset = cursor - first
        result = _write_span(
            role,
            timeline,
            model,
            chords,
            melody,
            replace(request, prompt=prompt, end_bar=stop, copies={}),
            replace(config, seed=config.seed + 7919 * segment),
            None if progress is None else lambda d, t, o=offset: report(o + int(d)),
            context,
            prompt_bar,
            before,
        )
        scores.append(result.scores[result.chosen])
        a, b = int(starts[cursor]), int(starts[stop])
        events = [e for e in events if e.onset < a] + [e for e in result.events if a <= e.onset < b]
        cursor, segment = stop, segment + 1
    if role is Role.CHORD:
        # a chord copied into a bar ends at its bar line; the bar after, when the model wrote
        # no chord at its start, carries it on (as the model meant, having seen it)
        ordered = sorted(events, key=lambda c: c.onset)
        part: tuple = tuple(_tiled(ordered, ordered[-1].offset)) if ordered else ()
    else:
        part = sort_notes(events)
    tokens = encode_part(as_score(list(part)), role, context)
    # one version, made of the best candidate of each written segment (their scores)
    return StageResult(role, part, tokens, tuple(scores) or (0.0,), 0, (part,))


def _cut_bar(events: list, role: Role, starts: np.ndarray, cursor: int, window: int) -> int:
    """The latest bar whose line leaves at least ``window`` of the part's tokens before bar
    ``cursor`` (counted as :func:`~symbolic_v2m.music.tokens.encode_part` writes them: a bar
    token, then a token per chord, or per simu-note and per note); 0 when the whole part before
    ``cursor`` is shorter."""
    onsets = np.sort(np.fromiter((e.onset for e in events), dtype=np.int64, count=len(events)))
    edges = starts[: cursor + 1]
    tokens = 1 + np.diff(np.searchsorted(onsets, edges))
    if role is not Role.CHORD:
        tokens = tokens + np.diff(np.searchsorted(np.unique(onsets), edges))
    from_end = np.cumsum(tokens[::-1])  # [j]: the tokens of bars cursor - 1 - j .. cursor - 1
    enough = np.flatnonzero(from_end >= window)
    return cursor - 1 - int(enough[0]) if len(enough) else 0


def _tiled(chords: list[Chord], end: int) -> list[Chord]:
    """``chords`` (sorted) each sounding until the next one starts, the last until ``end``
    (a chord that already reaches further is left as it is)."""
    out = []
    for i, c in enumerate(chords):
        until = chords[i + 1].onset if i + 1 < len(chords) else end
        out.append(replace(c, duration=until - c.onset) if c.offset < until else c)
    return out
