"""Scores for choosing among a stage's candidates: control adherence and simple theory.

Every score is in [0, 1] (higher is better) and the total is their mean, so no single rule
dominates. The rules are deliberately simple and well established: notes in the key's scale,
melody notes on beats that belong to the chord (the basis of chord-scale theory), singable
steps, a closing chord on the tonic, no semitone clashes between accompaniment and melody.
"""

from __future__ import annotations

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


def _chord_at(chords: tuple[Chord, ...], tick: int) -> Chord | None:
    for chord in chords:
        if chord.onset <= tick < chord.offset:
            return chord
    return None


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
        hits = [
            n.pitch % 12 in chord_pitch_classes(c.root, c.quality, c.bass)
            for n in on_beat
            if (c := _chord_at(chords, n.onset)) is not None and c.quality != "N"
        ]
        scores.append(float(np.mean(hits)) if hits else 0.5)
        steps = np.abs(np.diff([n.pitch for n in events]))
        scores.append(float(np.mean(steps <= 7)) if len(steps) else 1.0)
    else:
        clashes = 0
        checked = 0
        for n in events:
            for m in melody:
                if m.onset <= n.onset < m.offset:
                    checked += 1
                    clashes += (abs(n.pitch - m.pitch) % 12) in (1, 11)
        scores.append(1 - clashes / checked if checked else 1.0)
    return float(np.mean(scores))
