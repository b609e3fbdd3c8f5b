"""Colour, brightness and motion -> mood: mode, preferred tempo, dynamics.

Used only where the user gave no ``--key`` / ``--mode`` / ``--tempo``. The mapping follows the
common findings of colour-emotion studies (brighter, more saturated, warmer pictures read as more
positive: Valdez & Mehrabian 1994) and of film-music practice (more motion and faster cutting,
more arousal and faster tempi):

- valence = 0.45 brightness + 0.25 saturation + 0.30 warmth (warmth mapped to 0..1), averaged
  over shots weighted by their length; major mode when valence >= 0.45;
- arousal = mean of the video's motion on the reference scale (see
  :mod:`symbolic_v2m.timeline.controls`) and its cut rate (30 cuts a minute = 1);
- preferred tempo: 80 + 50 x arousal quarter notes a minute, or the video's own visual tempo
  folded by octaves next to that, when the visual tempo is confident;
- velocity scale 0.7 + 0.3 x arousal (never above 1, so exported velocities are never
  clipped and a DAW round trip can undo the scaling exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symbolic_v2m.timeline.controls import ControlConfig
from symbolic_v2m.video.features import VideoFeatures

MAJOR_VALENCE = 0.45
MIN_TEMPO_CONFIDENCE = 0.3


@dataclass(frozen=True)
class Mood:
    """How the picture feels, and what that suggests for the music."""

    valence: float
    arousal: float
    mode: str
    preferred_qpm: float
    velocity_scale: float


def estimate_mood(features: VideoFeatures, controls: ControlConfig | None = None) -> Mood:
    """The video's mood (see the module doc)."""
    controls = controls or ControlConfig()
    shots = features.shots
    if shots:
        weights = np.array([max(s.end - s.start, 1e-3) for s in shots])
        valence_per_shot = np.array(
            [0.45 * s.brightness + 0.25 * s.saturation + 0.30 * (s.warmth + 1) / 2 for s in shots]
        )
        valence = float(np.average(valence_per_shot, weights=weights))
    else:
        valence = 0.5
    speed = float(np.mean(features.flow_speed)) if features.flow_speed else 0.0
    log_ratio = math.log(max(speed, 1e-4) / controls.reference_median)
    motion = 1 / (1 + math.exp(-log_ratio / controls.reference_spread))
    duration = max(features.info.duration, 1e-3)
    cut_rate = min(1.0, len(features.hard_cuts) / duration * 60 / 30)
    arousal = 0.5 * motion + 0.5 * cut_rate
    preferred = 80 + 50 * arousal
    tempo = features.visual_tempo
    if tempo and features.tempo_confidence >= MIN_TEMPO_CONFIDENCE:
        while tempo < preferred / math.sqrt(2):
            tempo *= 2
        while tempo > preferred * math.sqrt(2):
            tempo /= 2
        preferred = tempo
    return Mood(
        valence=valence,
        arousal=arousal,
        mode="major" if valence >= MAJOR_VALENCE else "minor",
        preferred_qpm=float(preferred),
        velocity_scale=0.7 + 0.3 * arousal,
    )
