"""Simple music metrics, with their sources.

- **Pitch-class entropy** (Yang & Lerch, "On the evaluation of generative models in music",
  Neural Computing and Applications 2020; MusDr's H): Shannon entropy, in bits, of the 12-bin
  pitch-class histogram of the notes. Here over a whole part (MusDr also averages over 1- and
  4-bar windows; the evaluation command will add those).
- **Scale consistency** (Mogren, C-RNN-GAN, 2016; used by V-MusProd): the largest share of notes
  that belong to one major scale (natural minor scales share those pitch-class sets).
- **Notes per bar**: notes (onsets counted with their chord tones) per bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from symbolic_v2m.music.score import Note, Score

_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Entropy (bits) of the pitch-class histogram; 0 for no notes."""
    if not notes:
        return 0.0
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest share of notes inside one major (or relative natural minor) scale; 1 if empty."""
    if not notes:
        return 1.0
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = max(sum(counts[(tonic + d) % 12] for d in _MAJOR) for tonic in range(12))
    return float(best / counts.sum())


def notes_per_bar(notes: Sequence[Note], n_bars: int) -> float:
    """Mean notes per bar."""
    return len(notes) / n_bars if n_bars else math.nan


def music_metrics(score: Score) -> dict[str, dict[str, float]]:
    """The metrics above for the melody, the accompaniment and both together."""
    parts = {
        "melody": score.melody,
        "accompaniment": score.accompaniment,
        "all": score.melody + score.accompaniment,
    }
    return {
        name: {
            "pitch_class_entropy": pitch_class_entropy(notes),
            "scale_consistency": scale_consistency(notes),
            "notes_per_bar": notes_per_bar(notes, score.n_bars),
        }
        for name, notes in parts.items()
    }
