"""Scores for choosing among a stage's candidates: control adherence and simple theory.

Every score is in [0, 1] (higher is better) and the total is their mean, so no single rule
dominates. The rules are deliberately simple and well established: notes in the key's scale,
melody notes on beats that belong to the chord (the basis of chord-scale theory), singable
steps, a closing chord on the tonic, no semitone clashes between accompaniment and melody.
"""

from __future__ import annotations

import bisect

import numpy as np

from symbolic_v2m.music.chords import chord_pitch_classes
from symbolic_v2m.music.score import TICKS_PER_BEAT, Chord, Note, Role
from symbolic_v2m.music.theory import Key, scale_pitch_classes
from symbolic_v2m.timeline import Timeline


def _density_adherence(onsets: list[int], timeline: Timeline, density: np.ndarray) -> float:
    starts = timeline.bar_starts[: len(density) + 1]
    realised = np.histogram(onsets, bins=starts)[0] if len(starts) > 1 else np.zeros(0)
    if len(realised) == 0:
        return 1.0
    return float(1 - np.mean(np.abs(realised - density[: len(realised)])) / 16)


def _chord_lookup(chords: tuple[Chord, ...]):
    """``tick -> chord sounding there`` by binary search (chords are sorted and do not overlap)."""
    onsets = [c.onset for c in chords]

    def at(tick: int) -> Chord | None:
        i = bisect.bisect_right(onsets, tick) - 1
        return chords[i] if i >= 0 and chords[i].offset > tick else None

    return at


def _melody_pitch_by_tick(melody: tuple[Note, ...], length: int) -> np.ndarray:
    """(length,) pitch of the melody note sounding at each tick, -1 in rests."""
    sounding = np.full(length, -1, dtype=np.int64)
    for note in sorted(melody, key=lambda n: (n.onset, n.pitch)):
        sounding[max(note.onset, 0) : min(note.offset, length)] = note.pitch
    return sounding


def score_candidate(
    role: Role,
    events: tuple,
    timeline: Timeline,
    density: np.ndarray,
    chords: tuple[Chord, ...] = (),
    melody: tuple[Note, ...] = (),
) -> float:
    """Mean of the role's scores (see the module doc)."""
    key = Key(timeline.key.tonic, timeline.key.mode)
    scale = set(scale_pitch_classes(key))
    scores = [_density_adherence(sorted({e.onset for e in events}), timeline, density)]
    if role is Role.CHORD:
        real = [c for c in events if c.quality != "N"]
        if not real:
            return 0.0
        tones = [chord_pitch_classes(c.root, c.quality, c.bass) for c in real]
        scores.append(float(np.mean([len(t & scale) / len(t) for t in tones])))
        scores.append(1.0 if real[-1].root == key.tonic else 0.5)
        return float(np.mean(scores))
    if not events:
        return scores[0] * 0.5
    pcs = [n.pitch % 12 for n in events]
    scores.append(float(np.mean([pc in scale for pc in pcs])))
    if role is Role.MELODY:
        on_beat = [n for n in events if n.onset % TICKS_PER_BEAT == 0]
        chord_at = _chord_lookup(chords)
        hits = [
            n.pitch % 12 in chord_pitch_classes(c.root, c.quality, c.bass)
            for n in on_beat
            if (c := chord_at(n.onset)) is not None and c.quality != "N"
        ]
        scores.append(float(np.mean(hits)) if hits else 0.5)
        steps = np.abs(np.diff([n.pitch for n in events]))
        scores.append(float(np.mean(steps <= 7)) if len(steps) else 1.0)
    else:
        # the melody note sounding at each accompaniment onset (the latest struck, as in
        # the model's context), checked for a semitone / major-seventh clash
        sounding = _melody_pitch_by_tick(melody, int(timeline.length))
        pairs = [(n.pitch, sounding[n.onset]) for n in events if 0 <= n.onset < len(sounding)]
        heard = [(a, b) for a, b in pairs if b >= 0]
        clashes = sum(abs(a - b) % 12 in (1, 11) for a, b in heard)
        scores.append(1 - clashes / len(heard) if heard else 1.0)
    return float(np.mean(scores))
