"""Quantising performed or transcribed music onto an annotated beat grid.

POP909's MIDI files carry a nominal 120 BPM that has nothing to do with the music; the beat
annotations (``beat_midi.txt``) are the truth. So times in seconds are mapped to a *fractional
beat index* by interpolating between annotated beats (extrapolating with the first / last beat
interval outside them), and rounded to the nearest tick. Bars come from the downbeat flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic_v2m.music.score import TICKS_PER_BEAT, Note, TempoMap, TimeSignature
from symbolic_v2m.music.vocab import DURATIONS, stage_spec


@dataclass(frozen=True, eq=False)
class BeatGrid:
    """Annotated beats: ``times`` (n,) seconds, increasing; ``downbeat`` (n,) bool."""

    times: np.ndarray
    downbeat: np.ndarray

    def __post_init__(self) -> None:
        if len(self.times) < 2:
            raise ValueError("a beat grid needs at least two beats")
        if np.any(np.diff(self.times) <= 0):
            raise ValueError("beat times must increase")

    def beat_position(self, seconds: np.ndarray) -> np.ndarray:
        """Fractional beat index of each time (0 = first annotated beat)."""
        t = self.times
        seconds = np.asarray(seconds, dtype=np.float64)
        pos = np.interp(seconds, t, np.arange(len(t), dtype=np.float64))
        before = seconds < t[0]
        after = seconds > t[-1]
        pos[before] = (seconds[before] - t[0]) / (t[1] - t[0])
        pos[after] = len(t) - 1 + (seconds[after] - t[-1]) / (t[-1] - t[-2])
        return pos

    def extended(self, n_beats: int) -> BeatGrid:
        """The grid continued to ``n_beats`` beats at the last beat interval."""
        extra = n_beats - len(self.times)
        if extra <= 0:
            return self
        step = self.times[-1] - self.times[-2]
        times = np.concatenate([self.times, self.times[-1] + step * np.arange(1, extra + 1)])
        return BeatGrid(times, np.concatenate([self.downbeat, np.zeros(extra, dtype=bool)]))

    def tempo_map(self, ticks_per_beat: int = TICKS_PER_BEAT) -> TempoMap:
        """One anchor per beat: tick ``i * ticks_per_beat`` is at ``times[i]``."""
        return TempoMap(
            tuple((i * ticks_per_beat, float(s)) for i, s in enumerate(self.times)),
            ticks_per_beat,
        )


def bar_lengths(grid: BeatGrid, unit: int, total_beats: int) -> list[int]:
    """Bars (in beats) covering ``total_beats`` beats, with downbeats where the grid has them.

    The stretch between two annotated downbeats is cut into bars of ``unit`` beats (4, or 3 for
    songs in triple metre), the remainder making a last, shorter bar: an annotated 6-beat bar in
    a 4/4 song becomes 4/4 + 2/4, a 5-beat one 4/4 + 1/4. Beats before the first downbeat make a
    pickup bar; after the last downbeat, bars of ``unit`` continue to the end.
    """
    downbeats = [int(i) for i in np.flatnonzero(grid.downbeat) if i < total_beats]
    if not downbeats or downbeats[0] != 0:
        downbeats = [0, *downbeats]
    bounds = [*downbeats, total_beats]
    bars: list[int] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        span = end - start
        while span > 0:
            bars.append(min(unit, span))
            span -= bars[-1]
    return bars


def meter_of(beats: int) -> TimeSignature:
    """The meter of a bar of ``beats`` quarter-note beats."""
    return TimeSignature(beats, 4)


def nearest_index(values: np.ndarray, grid: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Index of the nearest grid value for each value (ties go to the smaller grid value)."""
    grid_arr = np.asarray(grid, dtype=np.float64)
    right = np.clip(np.searchsorted(grid_arr, values, side="left"), 1, len(grid_arr) - 1)
    left = right - 1
    choose_right = np.abs(grid_arr[right] - values) < np.abs(values - grid_arr[left])
    return np.where(choose_right, right, left)


@dataclass
class QuantisationStats:
    """How far quantisation moved a part's notes (onsets in ticks)."""

    notes: int = 0
    moved_32nd: int = 0  # onset moved by more than a 32nd note (half a tick)
    moved_64th: int = 0  # onset moved by more than a 64th note (a quarter tick)
    displacement_sum: float = 0.0  # sum of |shift| in ticks
    dropped_before_start: int = 0
    merged_duplicates: int = 0

    def add(self, other: QuantisationStats) -> None:
        """Accumulate another part's figures."""
        self.notes += other.notes
        self.moved_32nd += other.moved_32nd
        self.moved_64th += other.moved_64th
        self.displacement_sum += other.displacement_sum
        self.dropped_before_start += other.dropped_before_start
        self.merged_duplicates += other.merged_duplicates


def quantise_notes(
    onsets: np.ndarray,
    offsets: np.ndarray,
    pitches: np.ndarray,
    velocities: np.ndarray,
    grid: BeatGrid,
    ticks_per_beat: int = TICKS_PER_BEAT,
) -> tuple[list[Note], QuantisationStats]:
    """Notes in seconds -> notes on the tick grid, durations and velocities on the vocabulary's.

    Onsets round to the nearest tick; notes that start more than half a tick before the first
    beat are dropped (the music starts there). Durations snap to the nearest value in
    :data:`~symbolic_v2m.music.vocab.DURATIONS`, velocities to the nearest velocity bin. Two
    notes of one pitch on one tick become one (the longer, then the louder).
    """
    stats = QuantisationStats()
    if len(onsets) == 0:
        return [], stats
    velocity_bins = np.asarray(stage_spec("melody").family("velocity").values)
    exact_on = grid.beat_position(onsets) * ticks_per_beat
    exact_off = grid.beat_position(offsets) * ticks_per_beat
    on = np.rint(exact_on).astype(np.int64)
    off = np.rint(exact_off).astype(np.int64)
    keep = on >= 0
    stats.dropped_before_start = int((~keep).sum())
    shift = np.abs(exact_on - on)[keep]
    stats.notes = int(keep.sum())
    stats.moved_32nd = int((shift > 0.5 + 1e-9).sum())
    stats.moved_64th = int((shift > 0.25).sum())
    stats.displacement_sum = float(shift.sum())
    durations = np.asarray(DURATIONS)[nearest_index(np.maximum(off - on, 1), DURATIONS)]
    vel = velocity_bins[nearest_index(np.clip(velocities, 1, 127), velocity_bins)]
    best: dict[tuple[int, int], Note] = {}
    for o, d, p, v in zip(on[keep], durations[keep], pitches[keep], vel[keep], strict=False):
        note = Note(int(o), int(d), int(p), int(v))
        key = (note.onset, note.pitch)
        if key in best:
            stats.merged_duplicates += 1
            if (note.duration, note.velocity) <= (best[key].duration, best[key].velocity):
                continue
        best[key] = note
    return sorted(best.values(), key=lambda n: (n.onset, n.pitch)), stats
