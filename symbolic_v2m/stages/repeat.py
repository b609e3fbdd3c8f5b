"""Music that returns: an earlier bar copied into a later one and fitted to that bar's controls.

The form plan (:mod:`symbolic_v2m.timeline.form`) says which bars repeat which; this module
makes the copy. A repeat must still follow the picture under it, so the copy is fitted to the
target bar's controls rather than pasted:

- chords are copied as they are (the harmony is what makes a return recognisable);
- a melody bar keeps its pitches and order, and its rhythm is thinned or thickened to the
  target bar's density: the weakest onsets (metrically) merge into the note before them, or
  the notes sounding on the strongest free positions are split in two (the same pitch struck
  again). A hit point in the target bar gets an onset first. The tune stays recognisable and
  the density control is met exactly;
- an accompaniment bar is fitted the same way, and then each simu-note on which the picture
  forces a strength gets that many notes: tones of the chord sounding there are added nearest
  the simu-note's own register, or inner notes dropped (the top and the bass stay).
  Writing such a bar afresh instead (the first version of this module) left most returning
  bars' accompaniment unlike its source (Jaccard ~0.05 on a 45 s clip), and the accompaniment
  is most of a bar's notes, so the return was hard to hear.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from symbolic_v2m.music.score import Chord, Note
from symbolic_v2m.music.vocab import DURATIONS, MAX_STRENGTH


def fit_duration(ticks: int) -> int:
    """The longest encodable duration not longer than ``ticks`` (at least one tick)."""
    return max(d for d in DURATIONS if d <= max(1, ticks))


def copy_chords(
    chords: tuple[Chord, ...], source: tuple[int, int], target_start: int
) -> tuple[list[Chord], bool]:
    """The chords sounding in the source bar [start, end), cut to it and moved to the target,
    and whether the first of them was held over from the bar before (not struck anew)."""
    start, end = source
    shift = target_start - start
    out, held = [], False
    for c in chords:
        lo, hi = max(c.onset, start), min(c.offset, end)
        if hi > lo:
            held = held or c.onset < start
            out.append(Chord(lo + shift, hi - lo, c.root, c.quality, c.bass))
    return out, held


def copy_notes(notes: tuple[Note, ...], source: tuple[int, int], target_start: int) -> list[Note]:
    """The notes starting in the source bar [start, end), moved to the target bar."""
    start, end = source
    shift = target_start - start
    return [
        Note(n.onset + shift, n.duration, n.pitch, n.velocity)
        for n in notes
        if start <= n.onset < end
    ]


def metrical_weight(tick: int, ticks_per_beat: int) -> int:
    """How strong a position in the bar is: 3 on the downbeat, 2 on a beat, 1 on an eighth,
    0 on the other sixteenths."""
    if tick == 0:
        return 3
    if tick % ticks_per_beat == 0:
        return 2
    if tick % max(1, ticks_per_beat // 2) == 0:
        return 1
    return 0


def fit_melody_bar(
    notes: list[Note],
    bar: tuple[int, int],
    density: int,
    required: tuple[int, ...],
    ticks_per_beat: int,
    apart: frozenset[int] = frozenset(),
) -> list[Note] | None:
    """A copied melody bar with exactly ``density`` onsets, one on every ``required`` tick
    (module doc); None when the source bar has no notes to make them from. ``notes`` start
    inside ``bar`` = [start, end) ticks. Onsets are added first, and removed last, off the
    ticks in ``apart`` (another part's onsets), so that what the two parts strike together
    thins and thickens with the bar's density as each part does."""
    start, end = bar
    groups: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        groups[n.onset].append(n)
    required_set = {t for t in required if start <= t < end}
    density = max(density, len(required_set))

    def sounding(tick: int) -> int | None:
        """The onset of the group whose notes sound at ``tick`` (None in a rest)."""
        before = [o for o in groups if o < tick]
        if not before:
            return None
        last = max(before)
        return last if any(n.offset > tick for n in groups[last]) else None

    def split(tick: int) -> None:
        origin = sounding(tick)
        if origin is None:  # a rest: strike the nearest pitch, until the next onset
            near = min(groups, key=lambda o: (abs(o - tick), o)) if groups else None
            if near is None:
                return
            later = [o for o in groups if o > tick]
            length = fit_duration((min(later) if later else end) - tick)
            groups[tick] = [Note(tick, length, n.pitch, n.velocity) for n in groups[near][:1]]
            return
        kept, struck = [], []
        for n in groups[origin]:
            if n.offset > tick:
                kept.append(Note(n.onset, fit_duration(tick - n.onset), n.pitch, n.velocity))
                struck.append(Note(tick, fit_duration(n.offset - tick), n.pitch, n.velocity))
            else:
                kept.append(n)
        groups[origin] = kept
        groups[tick] = struck

    def merge(tick: int) -> None:
        removed = groups.pop(tick)
        before = [o for o in groups if o < tick]
        if not before:
            return
        last = max(before)
        reach = max(n.offset for n in removed)
        groups[last] = [
            Note(n.onset, fit_duration(max(n.offset, reach) - n.onset), n.pitch, n.velocity)
            if n.offset >= tick
            else n
            for n in groups[last]
        ]

    for tick in sorted(required_set - set(groups)):
        split(tick)
    while len(groups) > density:
        removable = [o for o in groups if o not in required_set]
        if not removable:
            break
        weakest = min(
            removable,
            key=lambda o: (o in apart, metrical_weight(o - start, ticks_per_beat), -o),
        )
        merge(weakest)
    while len(groups) < density:
        free = [t for t in range(start, end) if t not in groups]
        if not free or not groups:
            break
        # split a sounding note where the beat is strongest; a rest only when none sounds
        best = max(
            free,
            key=lambda t: (
                sounding(t) is not None,
                t not in apart,
                metrical_weight(t - start, ticks_per_beat),
                -t,
            ),
        )
        split(best)
    if len(groups) != density or not required_set <= set(groups):
        return None
    return [n for o in sorted(groups) for n in groups[o]]


def fit_accompaniment_bar(
    notes: list[Note],
    bar: tuple[int, int],
    density: int,
    strength: np.ndarray | None,
    chord_tones: Callable[[int], frozenset[int]],
    ticks_per_beat: int,
    melody_onsets: frozenset[int] = frozenset(),
) -> list[Note] | None:
    """A copied accompaniment bar with exactly ``density`` onsets and the forced strengths
    (module doc), or None when that cannot be made from it; ``chord_tones(tick)`` are the
    pitch classes of the chord sounding there."""
    start, end = bar
    forced = {}
    if strength is not None:
        forced = {
            t: int(strength[t]) for t in range(start, min(end, len(strength))) if strength[t] >= 1
        }
    fitted = fit_melody_bar(notes, bar, density, tuple(forced), ticks_per_beat, melody_onsets)
    if fitted is None:
        return None
    groups: dict[int, list[Note]] = defaultdict(list)
    for n in fitted:
        groups[n.onset].append(n)
    out = []
    for onset in sorted(groups):
        group = sorted(groups[onset], key=lambda n: n.pitch)
        want = forced.get(onset)
        if want is not None:
            group = _voice(group, want, chord_tones(onset))
            if min(len(group), MAX_STRENGTH) != want:
                return None
        out += group
    return out


def _voice(group: list[Note], size: int, tones: frozenset[int]) -> list[Note]:
    """``group`` (sorted by pitch) with ``size`` notes (``MAX_STRENGTH``: at least that many):
    inner notes dropped, or chord tones added nearest its middle, then octaves of its notes."""
    if len(group) > size and not (size == MAX_STRENGTH and len(group) >= size):
        while len(group) > max(size, 2):
            group.pop(len(group) // 2)
        return group[:size]
    template = group[0]
    low, high = group[0].pitch, group[-1].pitch
    middle = (low + high) / 2
    taken = {n.pitch for n in group}
    pool = sorted(
        (p for p in range(max(24, low - 12), min(108, high + 12) + 1) if p % 12 in tones),
        key=lambda p: (abs(p - middle), p),
    )
    pool += [p + 12 * k for k in (1, -1, 2, -2) for p in sorted(taken) if 0 <= p + 12 * k < 128]
    for pitch in pool:
        if len(group) >= size:
            break
        if pitch not in taken:
            taken.add(pitch)
            group.append(Note(template.onset, template.duration, pitch, template.velocity))
    return sorted(group, key=lambda n: n.pitch)
