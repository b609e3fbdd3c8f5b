"""Simple music metrics, with their sources.

- **Pitch-class entropy** (Yang & Lerch, "On the evaluation of generative models in music",
  Neural Computing and Applications 2020; MusDr's H): Shannon entropy, in bits, of the 12-bin
  pitch-class histogram of the notes, over a whole part.
- **Scale consistency** (Mogren, C-RNN-GAN, 2016; used by V-MusProd): the largest share of notes
  that belong to one major scale (natural minor scales share those pitch-class sets).
- **Notes per bar**: notes (onsets counted with their chord tones) per bar.

Both are computed by :mod:`symbolic_v2m.evaluation.music` (the evaluate command's metrics, on a
:class:`~symbolic_v2m.evaluation.piece.Piece`); this module applies them to a score's parts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from symbolic_v2m.evaluation.music import pitch_class_entropy_of, scale_consistency_of
from symbolic_v2m.music.score import Note, Score


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Entropy (bits) of the pitch-class histogram; 0 for no notes."""
    if not notes:
        return 0.0
    return pitch_class_entropy_of([n.pitch for n in notes])


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest share of notes inside one major (or relative natural minor) scale; 1 if empty."""
    if not notes:
        return 1.0
    return scale_consistency_of([n.pitch for n in notes])


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
