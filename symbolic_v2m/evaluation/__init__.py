"""Objective metrics on symbolic music (the evaluate command grows from here).

Entry point: :func:`music_metrics`.
"""

from symbolic_v2m.evaluation.metrics import (
    music_metrics,
    notes_per_bar,
    pitch_class_entropy,
    scale_consistency,
)

__all__ = ["music_metrics", "notes_per_bar", "pitch_class_entropy", "scale_consistency"]
