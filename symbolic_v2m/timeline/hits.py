"""Hit points: the moments the music marks with an accent, as film composers score to them.

A hit point is a strong visual beat (a flash, a slam, a sudden stop: its weight at least
``threshold``) or a moment the user names (``--hit``). It sits on the 16th-note grid of the
tempo map, the nearest 16th to its frame, so within a 32nd note of it. What the music does
there is decided downstream: the accompaniment is asked for its fullest strength and the melody
for an onset (:func:`~symbolic_v2m.timeline.build.build_timeline`), and the arrangement accents
every part that sounds there and adds a percussion stroke
(:func:`~symbolic_v2m.arrangement.arrange`).

User times are read by :func:`parse_hit_time`: seconds (``12.5``), minutes and seconds
(``0:12.5``, ``1:02``), or SMPTE timecode ``HH:MM:SS:FF`` at the video's frame rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from symbolic_v2m.music.score import TempoMap
from symbolic_v2m.video.features import VisualBeat

#: Visual beats at least this strong (weight in (0, 1], relative to the video's strongest)
#: become hit points. One-frame flashes measure 0.90-1.0 on the synthetic test clips (0.97-1.0
#: in bench/RESULTS.md); on a clip of six moving shots without flashes the stops and reversals
#: reach 0.81-1.0, and at 0.8 five of them in 15 s became hits, too many to stand out; at 0.85,
#: three.
HIT_THRESHOLD = 0.85

_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")
_MINUTES = re.compile(r"^(\d+):([0-5]?\d(?:\.\d+)?)$")
_TIMECODE = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)[:;](\d{1,3})$")


@dataclass(frozen=True)
class HitPoint:
    """A moment to accent: its time in the video (seconds), its tick on the grid, where it came
    from (``"visual"`` or ``"user"``) and, for a visual one, the beat's weight."""

    time: float
    tick: int
    source: str
    weight: float = 1.0


def parse_hit_time(text: str, fps: float | None = None) -> float:
    """``text`` as seconds: ``12.5``, ``0:12.5`` (minutes:seconds) or ``HH:MM:SS:FF`` (frames
    at ``fps``; with ``fps`` None only the form is checked and the frames are ignored).

    Raises:
        ValueError: a form that is none of these, or a frame number the rate does not have.
    """
    value = text.strip()
    if _SECONDS.match(value):
        return float(value)
    if m := _MINUTES.match(value):
        return 60 * int(m[1]) + float(m[2])
    if m := _TIMECODE.match(value):
        seconds = 3600 * int(m[1]) + 60 * int(m[2]) + int(m[3])
        if fps is None:
            return float(seconds)
        frame = int(m[4])
        if frame >= math.ceil(fps):
            raise ValueError(
                f"{text!r}: frame {frame} does not exist at {fps:.3f} fps (frames 0-"
                f"{math.ceil(fps) - 1})"
            )
        return seconds + frame / fps
    raise ValueError(
        f"{text!r}: give seconds (12.5), minutes:seconds (0:12.5) or timecode HH:MM:SS:FF"
    )


def hit_points(
    beats: Sequence[VisualBeat],
    user_times: Sequence[float],
    tempo: TempoMap,
    length: int,
    threshold: float = HIT_THRESHOLD,
) -> tuple[HitPoint, ...]:
    """The hit points of a piece of ``length`` ticks: the visual beats of at least
    ``threshold`` and the user's times, each on its nearest tick (a 16th), one per tick (a
    user's wins), in time order."""
    by_tick: dict[int, HitPoint] = {}
    for beat in beats:
        if beat.weight >= threshold:
            tick = _tick(tempo, beat.time, length)
            by_tick.setdefault(tick, HitPoint(beat.time, tick, "visual", beat.weight))
    for time in user_times:
        tick = _tick(tempo, time, length)
        by_tick[tick] = HitPoint(float(time), tick, "user")
    return tuple(by_tick[t] for t in sorted(by_tick))


def _tick(tempo: TempoMap, seconds: float, length: int) -> int:
    return min(max(0, int(round(tempo.tick(seconds)))), length - 1)
