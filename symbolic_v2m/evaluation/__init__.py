"""Objective evaluation: music metrics, video fit and control adherence, from files.

Entry point: :func:`evaluate` (a MIDI file, optionally with a video, a project file and a
reference set -> :class:`Evaluation`). Every metric reads a :class:`Piece` (notes in seconds
with their beats), made from any MIDI file by :func:`read_piece`.
"""

from symbolic_v2m.evaluation.evaluate import (
    POP909_TEST,
    EvaluateConfig,
    Evaluation,
    evaluate,
    reference_pieces,
)
from symbolic_v2m.evaluation.metrics import (
    music_metrics as score_metrics,
)
from symbolic_v2m.evaluation.metrics import (
    notes_per_bar,
    pitch_class_entropy,
    scale_consistency,
)
from symbolic_v2m.evaluation.piece import Piece, piece_from_score, read_piece

__all__ = [
    "POP909_TEST",
    "EvaluateConfig",
    "Evaluation",
    "Piece",
    "evaluate",
    "notes_per_bar",
    "piece_from_score",
    "pitch_class_entropy",
    "read_piece",
    "reference_pieces",
    "scale_consistency",
    "score_metrics",
]
