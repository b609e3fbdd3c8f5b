"""Video analysis: from a video file to :class:`VideoFeatures` (rhythm, cuts, colour).

>>> from symbolic_v2m.video import analyze_video
>>> features = analyze_video("clip.mp4")       # doctest: +SKIP
>>> [round(c.time, 2) for c in features.cuts]  # doctest: +SKIP
[1.0, 6.01, 13.15, 23.06]
"""

from symbolic_v2m.video.analyze import AnalysisConfig, analyze_video
from symbolic_v2m.video.cuts import DETECTORS, CutConfig
from symbolic_v2m.video.features import Cut, Shot, VideoFeatures, VideoInfo, VisualBeat

__all__ = [
    "DETECTORS",
    "AnalysisConfig",
    "Cut",
    "CutConfig",
    "Shot",
    "VideoFeatures",
    "VideoInfo",
    "VisualBeat",
    "analyze_video",
]
