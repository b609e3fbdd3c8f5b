"""A tempo map whose bar lines land on the video's cuts.

Every shot (the span between two significant cuts, or the video's start and end) gets a whole
number of beats and its own constant tempo, so each cut falls exactly on a beat; the beat counts
are chosen so that the cuts fall on *downbeats* wherever the shot lengths allow it with every
shot's tempo within ``±max_deviation`` of the base tempo. A dynamic programme over the shots
(state: the beat within the bar at which a shot ends) finds the cheapest plan, where the cost
is the squared tempo deviations plus a penalty, scaled by the cut's weight (its strength; a fade
weighs less than a hard cut), for each cut that lands on a beat but not on a downbeat. When the
user gives no tempo, the base tempo itself is searched near the preferred one (the visual tempo
or the mood's), which usually lets every cut land on a downbeat.

What happens to awkward cuts:

- two cuts closer together than one bar cannot both be downbeats without a tempo far outside
  the band: the later one lands on a beat;
- a shot shorter than one beat at the fastest allowed tempo gets a single beat at whatever tempo
  that takes, so its cut still lands on a beat (a very short, fast beat);
- the music starts with the first frame; a pickup bar at the start lets the first cut be a
  downbeat when the first shot is not a whole number of bars long;
- the piece ends with the video: if the last bar cannot end exactly there within the band, the
  last bar is shortened (e.g. a 2/4 bar at the end of a 4/4 piece).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symbolic_v2m.music.score import TICKS_PER_BEAT, TempoMap, TimeSignature

COMMON_TIME = TimeSignature(4, 4)
#: cost of one misaligned cut of strength 1 (a tempo at the band's edge costs 1)
MISALIGNED_COST = 60.0
#: the least a cut weighs, however faint: every cut is worth aligning
MIN_CUT_WEIGHT = 0.25
#: cost of ending the piece on a partial bar
PARTIAL_END_COST = 20.0
#: cost of starting with a pickup bar (so that the first cut can be a downbeat)
PICKUP_COST = 3.0
#: cost per band width beyond the band (tempi outside ±max_deviation)
OUTSIDE_BAND_COST = 200.0


@dataclass(frozen=True)
class CutPlacement:
    """Where a cut landed: its time, the tick of the beat it fell on, and whether a downbeat."""

    time: float
    tick: int
    bar: int
    on_downbeat: bool
    strength: float


@dataclass(frozen=True)
class TempoPlan:
    """The bars laid over the video: meters, tempo map, and where each cut landed."""

    tempo: TempoMap
    meters: tuple[TimeSignature, ...]
    base_qpm: float
    cuts: tuple[CutPlacement, ...]
    beats_per_shot: tuple[int, ...]
    qpm_per_shot: tuple[float, ...]


def _candidates(length: float, base_qpm: float, max_deviation: float) -> list[int]:
    """Beat counts for a shot: those inside the tempo band, else the nearest whole count."""
    beats = length * base_qpm / 60.0
    low = max(1, math.ceil(beats * (1 - max_deviation) - 1e-9))
    high = max(1, math.floor(beats * (1 + max_deviation) + 1e-9))
    if low <= high:
        return list(range(low, high + 1))
    # no whole beat count fits the band (a very short shot): the nearest ones, outside it
    return sorted({max(1, math.floor(beats)), max(1, math.ceil(beats))})


def _plan(
    shots: np.ndarray,
    strengths: Sequence[float],
    base_qpm: float,
    beats_per_bar: int,
    max_deviation: float,
) -> tuple[float, int, list[int]]:
    """Dynamic programme over shots for one base tempo -> (cost, start beat, beats per shot)."""
    n = len(shots)
    inf = math.inf
    # the start state is the beat of the bar the music starts on: a pickup costs a little
    cost = [0.0] + [PICKUP_COST] * (beats_per_bar - 1)
    back: list[list[tuple[int, int]]] = []
    for i, length in enumerate(shots):
        new = [inf] * beats_per_bar
        choice: list[tuple[int, int]] = [(-1, -1)] * beats_per_bar
        last = i == n - 1
        for m in _candidates(length, base_qpm, max_deviation):
            qpm = m * 60.0 / length
            deviation = abs(qpm / base_qpm - 1) / max_deviation
            c_tempo = deviation**2 if deviation <= 1 else 1 + OUTSIDE_BAND_COST * (deviation - 1)
            for s, before in enumerate(cost):
                if before == inf:
                    continue
                end = (s + m) % beats_per_bar
                if end == 0:
                    c_align = 0.0
                elif last:
                    c_align = PARTIAL_END_COST
                else:
                    c_align = MISALIGNED_COST * max(strengths[i], MIN_CUT_WEIGHT)
                total = before + c_tempo + c_align
                if total < new[end]:
                    new[end] = total
                    choice[end] = (s, m)
        cost = new
        back.append(choice)
    end = int(np.argmin(cost))
    best = cost[end]
    beats = []
    for choice in reversed(back):
        s, m = choice[end]
        beats.append(m)
        end = s
    return best, end, beats[::-1]


def plan_tempo(
    duration: float,
    cuts: Sequence[tuple[float, float]],
    preferred_qpm: float,
    meter: TimeSignature = COMMON_TIME,
    max_deviation: float = 0.10,
    search: bool = True,
    search_range: float = 0.2,
) -> TempoPlan:
    """Bars over ``duration`` seconds with ``cuts`` (time, weight 0..1) on beats / downbeats.

    ``preferred_qpm`` is the base tempo in quarter notes per minute; with ``search`` it may move
    by up to ``search_range`` if that lets more cuts land on downbeats (a user's ``--tempo`` is
    planned with ``search=False``). See the module doc for the rules.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    beats_per_bar = meter.ticks(TICKS_PER_BEAT) // TICKS_PER_BEAT
    if meter.ticks(TICKS_PER_BEAT) % TICKS_PER_BEAT:
        raise ValueError(f"{meter} bars are not whole quarter-note beats")
    times = sorted((t, s) for t, s in cuts if 0 < t < duration)
    bounds = [0.0, *[t for t, _ in times], duration]
    shots = np.diff(bounds)
    strengths = [s for _, s in times] + [1.0]
    if search:
        steps = np.linspace(1 - search_range, 1 + search_range, 49)
        bases = sorted(preferred_qpm * steps, key=lambda q: abs(q - preferred_qpm))
    else:
        bases = [preferred_qpm]
    best = None
    for base in bases:
        cost, start, beats = _plan(shots, strengths, base, beats_per_bar, max_deviation)
        cost += 2.0 * (base / preferred_qpm - 1) ** 2 / max_deviation**2  # stay near preferred
        if best is None or cost < best[0] - 1e-9:
            best = (cost, base, start, beats)
    _, base, start_beat, beats = best

    pickup = (beats_per_bar - start_beat) % beats_per_bar
    anchors = []
    tick = 0
    placements = []
    for i, (start, m) in enumerate(zip(bounds[:-1], beats, strict=True)):
        anchors.append((tick, float(start)))
        tick += m * TICKS_PER_BEAT
        if i < len(times):
            beat = start_beat + tick // TICKS_PER_BEAT  # beats counted from a whole bar's start
            bar = beat // beats_per_bar  # a pickup bar is bar 0, as the bar it completes
            placements.append(
                CutPlacement(times[i][0], tick, bar, beat % beats_per_bar == 0, times[i][1])
            )
    anchors.append((tick, float(duration)))
    total_beats = tick // TICKS_PER_BEAT
    head = (TimeSignature(pickup, 4),) if pickup and pickup < total_beats else ()
    remaining = total_beats - (pickup if head else 0)
    full, rest = divmod(remaining, beats_per_bar)
    meters = head + (meter,) * full + ((TimeSignature(rest, 4),) if rest else ())
    qpm = tuple(m * 60.0 / length for m, length in zip(beats, shots, strict=True))
    return TempoPlan(
        TempoMap(tuple(anchors)), meters, float(base), tuple(placements), tuple(beats), qpm
    )
