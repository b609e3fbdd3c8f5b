"""The score model: what every stage reads and writes, on a bar / beat / tick grid.

Time is counted in integer *ticks* from the first downbeat; ``ticks_per_beat`` is 4 (16th notes)
unless a :class:`Score` says otherwise. Bars may differ in length (a 2/4 bar in a 4/4 song, a
pickup), so a score carries the meter of every bar; absolute ticks are the running sum.

Triplets and swing: the grid is straight 16ths, so a triplet or a swung 8th lands on the nearest
16th (a swung pair becomes a dotted-8th + 16th or a straight pair, whichever is nearer). The data
pipeline measures how far that moves notes (its quantisation report) and keeps songs that rely on
them out of training. Seconds come from the :class:`TempoMap`, never from the grid.

Every value here is a frozen dataclass of ints, strings and tuples, so two scores compare equal
exactly when they are the same quantised music.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

TICKS_PER_BEAT = 4

PITCH_CLASS_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


class Role(str, Enum):
    """The part a stage writes. The order is the generation order."""

    CHORD = "chord"
    MELODY = "melody"
    ACCOMPANIMENT = "accompaniment"


@dataclass(frozen=True, order=True)
class TimeSignature:
    """The meter of one bar, e.g. ``TimeSignature(6, 8)``."""

    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if self.numerator < 1 or self.denominator not in (1, 2, 4, 8, 16):
            raise ValueError(f"unsupported time signature {self.numerator}/{self.denominator}")

    def ticks(self, ticks_per_beat: int = TICKS_PER_BEAT) -> int:
        """Length of a bar in ticks (a beat here is always a quarter note)."""
        # integer arithmetic: called for every bar of every encode, where a Fraction cost
        # seconds over a long piece
        length, rest = divmod(self.numerator * 4 * ticks_per_beat, self.denominator)
        if rest:
            raise ValueError(f"{self} does not fit a grid of {ticks_per_beat} ticks per beat")
        return length

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @classmethod
    def parse(cls, text: str) -> TimeSignature:
        """``"3/4"`` -> ``TimeSignature(3, 4)``."""
        try:
            num, den = (int(part) for part in text.strip().split("/"))
        except ValueError:
            raise ValueError(f"{text!r} is not a time signature like 4/4") from None
        return cls(num, den)


@dataclass(frozen=True)
class Note:
    """One note of a part: onset and duration in ticks, MIDI pitch and velocity."""

    onset: int
    duration: int
    pitch: int
    velocity: int = 80

    @property
    def offset(self) -> int:
        return self.onset + self.duration


@dataclass(frozen=True)
class Chord:
    """A chord event. ``root`` and ``bass`` are pitch classes (0 = C); ``quality`` is one of
    :data:`symbolic_v2m.music.chords.QUALITIES`. The no-chord ``"N"`` has no root and no bass."""

    onset: int
    duration: int
    root: int | None
    quality: str
    bass: int | None = None

    @property
    def offset(self) -> int:
        return self.onset + self.duration

    @property
    def label(self) -> str:
        """Harte-style label, as POP909 writes it: ``"A:min7"``, ``"F:maj/3"``, ``"N"``."""
        from symbolic_v2m.music.chords import chord_label

        return chord_label(self.root, self.quality, self.bass)


@dataclass(frozen=True)
class KeyChange:
    """From ``onset`` (ticks) on, the music is in ``tonic`` (pitch class) ``mode``."""

    onset: int
    tonic: int
    mode: str = "major"  # "major" | "minor"

    def __post_init__(self) -> None:
        if self.mode not in ("major", "minor") or not 0 <= self.tonic < 12:
            raise ValueError(f"bad key: tonic {self.tonic}, mode {self.mode!r}")

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"


@dataclass(frozen=True)
class TempoMap:
    """Where ticks fall in seconds: anchor points ``(tick, seconds)``, linear in between.

    Linear between anchors means a constant tempo between them, so the map turns straight into
    MIDI set-tempo events. Beyond the last anchor the last segment's tempo continues (before the
    first, the first one's). One anchor per beat carries a measured beat grid (POP909); one per
    tempo change carries a composed tempo map.
    """

    anchors: tuple[tuple[int, float], ...]
    ticks_per_beat: int = TICKS_PER_BEAT

    def __post_init__(self) -> None:
        if len(self.anchors) < 2:
            raise ValueError("a tempo map needs at least two anchors")
        ticks = [t for t, _ in self.anchors]
        secs = [s for _, s in self.anchors]
        if any(b <= a for a, b in zip(ticks, ticks[1:], strict=False)) or any(
            b <= a for a, b in zip(secs, secs[1:], strict=False)
        ):
            raise ValueError("tempo map anchors must increase in ticks and in seconds")

    @classmethod
    def constant(cls, qpm: float, start: float = 0.0, ticks_per_beat: int = TICKS_PER_BEAT):
        """A single tempo of ``qpm`` quarter notes per minute, the first tick at ``start`` s."""
        return cls(((0, start), (ticks_per_beat, start + 60.0 / qpm)), ticks_per_beat)

    def _segment(self, index: int) -> tuple[int, float, float]:
        index = min(max(index, 0), len(self.anchors) - 2)
        (t0, s0), (t1, s1) = self.anchors[index], self.anchors[index + 1]
        return t0, s0, (s1 - s0) / (t1 - t0)

    def seconds(self, tick: float) -> float:
        """The time in seconds of a (possibly fractional) tick."""
        index = bisect.bisect_right([t for t, _ in self.anchors], tick) - 1
        t0, s0, per_tick = self._segment(index)
        return s0 + (tick - t0) * per_tick

    def tick(self, seconds: float) -> float:
        """The fractional tick at a time in seconds (inverse of :meth:`seconds`)."""
        index = bisect.bisect_right([s for _, s in self.anchors], seconds) - 1
        t0, s0, per_tick = self._segment(index)
        return t0 + (seconds - s0) / per_tick

    def tempo_changes(self) -> list[tuple[int, float]]:
        """``(tick, quarter notes per minute)`` at each anchor where the tempo changes."""
        changes: list[tuple[int, float]] = []
        for index in range(len(self.anchors) - 1):
            tick, _, per_tick = self._segment(index)
            qpm = 60.0 / (per_tick * self.ticks_per_beat)
            if not changes or abs(changes[-1][1] - qpm) > 1e-6 * qpm:
                changes.append((tick, qpm))
        return changes


@dataclass(frozen=True)
class Bar:
    """A bar as placed in a score: its index, first tick and meter."""

    index: int
    start: int
    meter: TimeSignature
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Score:
    """A quantised piece: bar meters, tempo map, keys, and the three parts by role.

    ``phrase_starts`` are the indices of the bars (after bar 0) where a phrase or section begins:
    sections of the video at composition time, phrases found in the melody in training data.

    Notes are kept sorted by (onset, pitch, duration, velocity) and chords by onset, so equality
    is equality of the music, whatever order it was built in (use :meth:`normalised`).
    """

    meters: tuple[TimeSignature, ...]
    tempo: TempoMap
    keys: tuple[KeyChange, ...] = ()
    chords: tuple[Chord, ...] = ()
    melody: tuple[Note, ...] = ()
    accompaniment: tuple[Note, ...] = ()
    phrase_starts: tuple[int, ...] = ()
    ticks_per_beat: int = TICKS_PER_BEAT
    _bar_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.meters:
            raise ValueError("a score needs at least one bar")
        starts = [0]
        for meter in self.meters:
            starts.append(starts[-1] + meter.ticks(self.ticks_per_beat))
        object.__setattr__(self, "_bar_starts", tuple(starts))

    @property
    def length(self) -> int:
        """Total length in ticks (the end of the last bar)."""
        return self._bar_starts[-1]

    @property
    def n_bars(self) -> int:
        return len(self.meters)

    def bars(self) -> Iterator[Bar]:
        """Every bar with its start tick."""
        for index, meter in enumerate(self.meters):
            start, end = self._bar_starts[index], self._bar_starts[index + 1]
            yield Bar(index, start, meter, end - start)

    def bar_at(self, tick: int) -> int:
        """Index of the bar that contains ``tick`` (the last bar for ticks past the end)."""
        return min(bisect.bisect_right(self._bar_starts, tick) - 1, self.n_bars - 1)

    def part(self, role: Role) -> tuple[Note, ...] | tuple[Chord, ...]:
        """The events of one role."""
        return {
            Role.CHORD: self.chords,
            Role.MELODY: self.melody,
            Role.ACCOMPANIMENT: self.accompaniment,
        }[Role(role)]

    def key_at(self, tick: int) -> KeyChange | None:
        """The key in force at ``tick`` (the first key before the first change)."""
        if not self.keys:
            return None
        index = bisect.bisect_right([k.onset for k in self.keys], tick) - 1
        return self.keys[max(index, 0)]

    def chord_at(self, tick: int) -> Chord | None:
        """The chord sounding at ``tick``, if any."""
        index = bisect.bisect_right([c.onset for c in self.chords], tick) - 1
        if index >= 0 and self.chords[index].offset > tick:
            return self.chords[index]
        return None

    def normalised(self) -> Score:
        """The same score with every part in canonical order."""
        from dataclasses import replace

        return replace(
            self,
            keys=tuple(sorted(self.keys, key=lambda k: k.onset)),
            phrase_starts=tuple(sorted(set(self.phrase_starts))),
            chords=tuple(sorted(self.chords, key=lambda c: c.onset)),
            melody=sort_notes(self.melody),
            accompaniment=sort_notes(self.accompaniment),
        )

    def seconds(self, tick: float) -> float:
        """Shortcut for ``self.tempo.seconds(tick)``."""
        return self.tempo.seconds(tick)


def clip_notes(
    notes: tuple[Note, ...], end: int, durations: tuple[int, ...] | None = None
) -> tuple[Note, ...]:
    """Notes that start before ``end``, shortened so that none sounds past it (the piece's
    last bar line: the music ends with the video). With ``durations`` (sorted, containing 1),
    a shortened note takes the longest allowed duration that fits, so it stays encodable."""

    def fit(note: Note) -> int:
        room = end - note.onset
        if note.duration <= room:
            return note.duration
        if durations is None:
            return room
        return max(d for d in durations if d <= room)

    return tuple(Note(n.onset, fit(n), n.pitch, n.velocity) for n in notes if n.onset < end)


def note_order(note: Note) -> tuple[int, int, int, int]:
    """Canonical order of notes: by onset, then pitch (low to high), duration, velocity."""
    return (note.onset, note.pitch, note.duration, note.velocity)


def sort_notes(notes: tuple[Note, ...] | list[Note]) -> tuple[Note, ...]:
    """Notes in canonical order."""
    return tuple(sorted(notes, key=note_order))
