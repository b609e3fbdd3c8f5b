"""Score <-> compound-word token arrays, with the control and context families.

Why our own layer and not miditok's ``CPWord``: miditok 3.1 turns attribute controls off for
multi-vocabulary tokenizers such as CP words, so it cannot carry per-bar density, per-simu-note
strength, or the aligned chord / melody context the later stages need. We keep its velocity bins
(:mod:`symbolic_v2m.music.vocab`) and use symusic to read MIDI.

A stage's sequence for a score (see :mod:`~symbolic_v2m.music.vocab` for the families)::

    bos
    bar  [meter 4/4, density 3]
    pos  [position 0, strength 2]   note [pitch 48 ...]   note [pitch 55 ...]
    pos  [position 4, strength 1]   note [...]
    ...
    bar  ...
    eos

Every token also has the context families, computed by :class:`StageContext` from its tick.
Generation builds the same ``StageContext`` from the timeline and the earlier stages, so training
and generation see context computed by one function.

Round trip: :func:`decode_score` of :func:`encode_score` gives back the identical quantised score
(the tempo map is the timeline's and travels beside the tokens).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from symbolic_v2m.music.score import Chord, KeyChange, Note, Role, Score, TempoMap, TimeSignature
from symbolic_v2m.music.vocab import (
    MAX_STRENGTH,
    METERS,
    PHRASE_HORIZON,
    PROGRESS_BUCKETS,
    StageSpec,
    stage_spec,
)

TOKEN_DTYPE = np.int16


@dataclass(frozen=True, eq=False)
class TokenSequence:
    """One stage's tokens for one piece.

    ``tokens`` is ``(T, F)`` family indices in the stage's column order; ``ticks`` is ``(T,)``,
    the tick each token sits on (its bar's downbeat for ``bar``, the simu-note's tick for ``pos``
    and its notes, the end of the piece for ``eos``): the beat-based position the model encodes.
    """

    role: Role
    tokens: np.ndarray
    ticks: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def spec(self) -> StageSpec:
        return stage_spec(self.role)


def vocabulary_meter(meter: TimeSignature, ticks_per_beat: int = 4) -> TimeSignature:
    """The vocabulary's meter for a bar: itself, or the one with the same length in ticks
    (6/8 -> 3/4: POP909 has no compound metre to learn from, see ``vocab.METERS``)."""
    if meter in METERS:
        return meter
    ticks = meter.ticks(ticks_per_beat)
    for candidate in METERS:
        if candidate.ticks(ticks_per_beat) == ticks:
            return candidate
    raise ValueError(
        f"{meter} bars are not in the vocabulary (meters: {', '.join(str(m) for m in METERS)})"
    )


@dataclass(frozen=True, eq=False)
class StageContext:
    """What a stage is given, as per-tick lookup tables of context-family indices.

    Built from a score (training, round trip) or from a timeline plus the parts already written
    (generation). Tables have one entry per tick of the piece plus one for the end.
    """

    meters: tuple[TimeSignature, ...]
    bar_starts: np.ndarray  # (n_bars + 1,) ticks
    length: int
    by_tick: dict[str, np.ndarray] = field(repr=False)  # family -> (length + 1,) indices
    by_bar: dict[str, np.ndarray] = field(repr=False)  # family -> (n_bars + 1,) indices

    @classmethod
    def build(
        cls,
        meters: tuple[TimeSignature, ...],
        keys: tuple[KeyChange, ...] = (),
        phrase_starts: tuple[int, ...] = (),
        chords: tuple[Chord, ...] = (),
        melody: tuple[Note, ...] = (),
        ticks_per_beat: int = 4,
    ) -> StageContext:
        """Context tables for a piece with these bars, keys, phrases and given parts."""
        spec = stage_spec(Role.ACCOMPANIMENT)  # has every context family
        fam = spec.family
        bar_starts = np.cumsum([0] + [m.ticks(ticks_per_beat) for m in meters]).astype(np.int64)
        length = int(bar_starts[-1])
        n_bars = len(meters)
        ticks = np.arange(length + 1)

        by_bar: dict[str, np.ndarray] = {}
        meter_idx = [fam("meter").index(vocabulary_meter(m, ticks_per_beat)) for m in meters]
        by_bar["meter"] = np.array([*meter_idx, 0], dtype=np.int64)
        starts = sorted({s for s in phrase_starts if 0 < s < n_bars} | {n_bars})
        phrase = np.zeros(n_bars + 1, dtype=np.int64)
        for bar in range(n_bars):
            next_start = next(s for s in starts if s > bar)
            phrase[bar] = fam("phrase").index(min(next_start - bar - 1, PHRASE_HORIZON))
        by_bar["phrase"] = phrase

        by_tick: dict[str, np.ndarray] = {}
        key_idx = np.zeros(length + 1, dtype=np.int64)
        for i, k in enumerate(sorted(keys, key=lambda k: k.onset)):
            begin = 0 if i == 0 else max(0, min(k.onset, length + 1))
            key_idx[begin:] = fam("key").index((k.tonic, k.mode))
        by_tick["key"] = key_idx
        by_tick["progress"] = 1 + np.minimum(
            ticks * PROGRESS_BUCKETS // max(length, 1), PROGRESS_BUCKETS - 1
        )
        root = np.zeros(length + 1, dtype=np.int64)
        quality = np.zeros(length + 1, dtype=np.int64)
        bass = np.zeros(length + 1, dtype=np.int64)
        for c in sorted(chords, key=lambda c: c.onset):
            span = slice(max(c.onset, 0), max(min(c.offset, length), 0))
            root[span] = fam("chord_root").index(c.root)
            quality[span] = fam("chord_quality").index(c.quality)
            bass[span] = fam("chord_bass").index(c.bass)
        by_tick.update(chord_root=root, chord_quality=quality, chord_bass=bass)
        mel_pitch = np.zeros(length + 1, dtype=np.int64)
        mel_onset = np.full(length + 1, fam("melody_onset").index(False), dtype=np.int64)
        # Later onsets overwrite held notes: the pitch heard at a tick is the latest one struck
        # (for the rare two-note melody chords, the higher, as notes are in pitch order).
        for n in sorted(melody, key=lambda n: (n.onset, n.pitch)):
            if 0 <= n.onset < length:
                mel_pitch[n.onset : min(n.offset, length)] = fam("melody_pitch").index(n.pitch)
                mel_onset[n.onset] = fam("melody_onset").index(True)
        by_tick.update(melody_pitch=mel_pitch, melody_onset=mel_onset)
        return cls(tuple(meters), bar_starts, length, by_tick, by_bar)

    @classmethod
    def from_score(cls, score: Score) -> StageContext:
        """The context a score gives each of its stages."""
        return cls.build(
            score.meters,
            score.keys,
            score.phrase_starts,
            score.chords,
            score.melody,
            score.ticks_per_beat,
        )

    def fill(self, spec: StageSpec, tokens: np.ndarray, ticks: np.ndarray) -> None:
        """Write the context columns of ``tokens`` (T, F) in place from their ``ticks`` (T,)."""
        ticks = np.clip(ticks, 0, self.length)
        bars = np.clip(np.searchsorted(self.bar_starts, ticks, side="right") - 1, 0, None)
        bars = np.minimum(bars, len(self.meters))  # the end tick maps to the extra entry
        for family in spec.context:
            column = spec.column[family.name]
            if family.name in self.by_bar:
                tokens[:, column] = self.by_bar[family.name][bars]
            else:
                tokens[:, column] = self.by_tick[family.name][ticks]

    def bar_of(self, tick: int) -> int:
        """Index of the bar containing ``tick``."""
        return int(np.searchsorted(self.bar_starts, tick, side="right") - 1)


def encode_part(score: Score, role: Role | str, context: StageContext | None = None):
    """One stage's :class:`TokenSequence` for ``score``.

    Raises ``ValueError`` if a note's duration or velocity is not on the vocabulary's grid (the
    data pipeline quantises onto it; see :func:`symbolic_v2m.music.quantise_notes`).
    """
    role = Role(role)
    spec = stage_spec(role)
    col = spec.column
    fam = spec.family
    context = context or StageContext.from_score(score)
    rows: list[list[int]] = []
    ticks: list[int] = []
    width = len(spec.families)
    t_bar, t_pos, t_note = (
        spec.type_index(t) if t in spec.token_types else 0 for t in ("bar", "pos", "note")
    )

    def row(token_type: int, tick: int, **values: int) -> None:
        r = [0] * width
        r[0] = token_type
        for name, index in values.items():
            r[col[name]] = index
        rows.append(r)
        ticks.append(tick)

    row(spec.type_index("bos"), 0)
    if role is Role.CHORD:
        t_chord = spec.type_index("chord")
        chords = sorted(score.chords, key=lambda c: c.onset)
        i = 0
        for bar in score.bars():
            in_bar = []
            while i < len(chords) and chords[i].onset < bar.end:
                in_bar.append(chords[i])
                i += 1
            row(t_bar, bar.start, density=fam("density").index(len({c.onset for c in in_bar})))
            for c in in_bar:
                row(
                    t_chord,
                    c.onset,
                    position=fam("position").index(c.onset - bar.start),
                    root=fam("root").index(c.root),
                    quality=fam("quality").index(c.quality),
                    bass=fam("bass").index(c.bass),
                )
    else:
        notes = sorted(score.part(role), key=lambda n: (n.onset, n.pitch, n.duration, n.velocity))
        i = 0
        for bar in score.bars():
            groups: dict[int, list[Note]] = {}
            while i < len(notes) and notes[i].onset < bar.end:
                groups.setdefault(notes[i].onset, []).append(notes[i])
                i += 1
            row(t_bar, bar.start, density=fam("density").index(len(groups)))
            for onset, group in groups.items():
                row(
                    t_pos,
                    onset,
                    position=fam("position").index(onset - bar.start),
                    strength=fam("strength").index(min(len(group), MAX_STRENGTH)),
                )
                for n in group:
                    row(
                        t_note,
                        onset,
                        pitch=fam("pitch").index(n.pitch),
                        duration=fam("duration").index(n.duration),
                        velocity=fam("velocity").index(n.velocity),
                    )
    row(spec.type_index("eos"), score.length)
    tokens = np.array(rows, dtype=TOKEN_DTYPE)
    tick_array = np.array(ticks, dtype=np.int32)
    context.fill(spec, tokens, tick_array)
    return TokenSequence(role, tokens, tick_array)


def encode_score(score: Score) -> dict[Role, TokenSequence]:
    """All three stages' sequences for ``score``."""
    context = StageContext.from_score(score)
    return {role: encode_part(score, role, context) for role in Role}


@dataclass(frozen=True)
class DecodedPart:
    """What one stage's tokens say: bars, keys and phrases from the context, and the events."""

    meters: tuple[TimeSignature, ...]
    keys: tuple[KeyChange, ...]
    phrase_starts: tuple[int, ...]
    events: tuple[Note, ...] | tuple[Chord, ...]


def decode_part(sequence: TokenSequence, ticks_per_beat: int = 4) -> DecodedPart:
    """Read a stage's tokens back into events.

    Lenient with generated sequences: a note before any simu-note, a position outside its bar or
    behind the previous one, or a value index of 0 where one is needed is skipped, not fatal.
    """
    decoder = PartDecoder(sequence.role, ticks_per_beat)
    decoder.feed(sequence.tokens)
    return decoder.part()


class PartDecoder:
    """:func:`decode_part` a block of tokens at a time, so that candidates continuing one
    prompt read the prompt once: feed the prompt, then :meth:`fork` the decoder for each
    candidate and feed it that candidate's new tokens."""

    def __init__(self, role: Role, ticks_per_beat: int = 4, start: int = 0) -> None:
        """``start``: the tick of the first bar token to come (tokens cut at a bar line)."""
        self.role = Role(role)
        self.spec = stage_spec(self.role)
        self.ticks_per_beat = ticks_per_beat
        self.meters: list[TimeSignature] = []
        self.keys: list[KeyChange] = []
        self.phrase_starts: list[int] = []
        self.events: list = []
        self.bar_start = self.bar_end = start
        self.last: int | None = None  # tick of the last accepted simu-note / chord (positions rise)
        self.tick: int | None = None  # tick that following notes belong to (None after a rejected)
        self.ended = False

    def fork(self) -> PartDecoder:
        """A decoder in this one's state that reads on independently (the events themselves
        are immutable and shared)."""
        other = copy.copy(self)
        for name in ("meters", "keys", "phrase_starts", "events"):
            setattr(other, name, list(getattr(self, name)))
        return other

    def feed(self, tokens: np.ndarray) -> None:
        """Read ``tokens`` (T, F), the ones after those already fed; nothing after ``eos``."""
        spec = self.spec
        col = spec.column
        fam = spec.family
        types = spec.family("type")
        meters, keys, events = self.meters, self.keys, self.events
        for r in tokens.tolist():
            if self.ended:
                return
            kind = types.value(r[0])
            if kind == "eos":
                self.ended = True
                return
            if kind == "bar":
                meter = fam("meter").value(r[col["meter"]]) or TimeSignature(4, 4)
                self.bar_start = self.bar_end
                self.bar_end = self.bar_start + meter.ticks(self.ticks_per_beat)
                meters.append(meter)
                self.tick = None
                key = fam("key").value(r[col["key"]])
                if key is not None and (not keys or (keys[-1].tonic, keys[-1].mode) != key):
                    keys.append(KeyChange(self.bar_start, *key))
                if fam("phrase").value(r[col["phrase"]]) == 0:
                    self.phrase_starts.append(len(meters))  # the next bar starts a phrase
                continue
            if not meters:
                continue
            if kind in ("pos", "chord"):
                self.tick = None
                position = fam("position").value(r[col["position"]])
                if position is None or self.bar_start + position >= self.bar_end:
                    continue
                if self.last is not None and self.bar_start + position <= self.last:
                    continue
                self.tick = self.last = self.bar_start + position
                if kind == "chord":
                    root = fam("root").value(r[col["root"]])
                    quality = fam("quality").value(r[col["quality"]])
                    if quality is None or (quality != "N" and root is None):
                        continue
                    if quality == "N":
                        root = None
                    bass = fam("bass").value(r[col["bass"]]) if quality != "N" else None
                    events.append((self.tick, root, quality, bass if bass is not None else root))
            elif kind == "note" and self.tick is not None:
                pitch = fam("pitch").value(r[col["pitch"]])
                duration = fam("duration").value(r[col["duration"]])
                velocity = fam("velocity").value(r[col["velocity"]])
                if None not in (pitch, duration, velocity):
                    events.append(Note(self.tick, duration, pitch, velocity))

    def part(self) -> DecodedPart:
        """What the tokens fed so far say."""
        length = self.bar_end
        phrase_starts = [b for b in self.phrase_starts if b < len(self.meters)]
        events = self.events
        if self.role is Role.CHORD:
            chords = []
            for i, (onset, root, quality, bass) in enumerate(events):
                end = events[i + 1][0] if i + 1 < len(events) else length
                chords.append(Chord(onset, end - onset, root, quality, bass))
            events = chords
        return DecodedPart(
            tuple(self.meters), tuple(self.keys), tuple(phrase_starts), tuple(events)
        )


def decode_score(sequences: Mapping[Role, TokenSequence], tempo: TempoMap) -> Score:
    """A score from the stages' sequences (any subset; bars, keys and phrases from the first)."""
    parts = {role: decode_part(seq, tempo.ticks_per_beat) for role, seq in sequences.items()}
    first = next(iter(parts.values()))
    return Score(
        meters=first.meters,
        tempo=tempo,
        keys=first.keys,
        chords=parts[Role.CHORD].events if Role.CHORD in parts else (),
        melody=parts[Role.MELODY].events if Role.MELODY in parts else (),
        accompaniment=parts[Role.ACCOMPANIMENT].events if Role.ACCOMPANIMENT in parts else (),
        phrase_starts=first.phrase_starts,
        ticks_per_beat=tempo.ticks_per_beat,
    ).normalised()


def transpose_tokens(tokens: np.ndarray, spec: StageSpec, semitones: int) -> np.ndarray | None:
    """``tokens`` (T, F) moved by ``semitones``; ``None`` if a pitch would leave 0..127.

    Which columns move, and how, comes from each family's ``transposes`` attribute.
    """
    if semitones == 0:
        return tokens
    out = tokens.copy()
    for family in spec.families:
        c = spec.column[family.name]
        used = tokens[:, c] > 0
        if family.transposes == "pitch":
            moved = tokens[used, c].astype(np.int64) + semitones
            if moved.size and (moved.min() < 1 or moved.max() > 128):
                return None
            out[used, c] = moved
        elif family.transposes == "pitch_class":
            out[used, c] = (tokens[used, c].astype(np.int64) - 1 + semitones) % 12 + 1
        elif family.transposes == "key":
            index = tokens[used, c].astype(np.int64) - 1  # mode * 12 + tonic
            out[used, c] = (index // 12) * 12 + (index % 12 + semitones) % 12 + 1
    return out
