"""The timeline: the music's frame fitted to the video (entry: :func:`build_timeline`).

Tempo map whose bar lines land on the cuts (:mod:`.tempo`), per-bar density and per-onset
strength controls calibrated on the training data (:mod:`.controls`), sections, key and mood
(:mod:`.mood`).
"""

from symbolic_v2m.timeline.build import Section, Timeline, TimelineConfig, build_timeline
from symbolic_v2m.timeline.controls import ControlConfig
from symbolic_v2m.timeline.mood import Mood, estimate_mood
from symbolic_v2m.timeline.tempo import CutPlacement, TempoPlan, plan_tempo

__all__ = [
    "ControlConfig",
    "CutPlacement",
    "Mood",
    "Section",
    "TempoPlan",
    "Timeline",
    "TimelineConfig",
    "build_timeline",
    "estimate_mood",
    "plan_tempo",
]
