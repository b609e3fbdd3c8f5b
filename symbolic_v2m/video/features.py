"""What video analysis hands to the rest of the pipeline: :class:`VideoFeatures`.

All values are frozen dataclasses of plain numbers, strings and tuples, so a ``VideoFeatures``
compares equal to itself after a JSON round trip (the one exception, :attr:`VideoFeatures.pictures`,
small frames kept for the timeline picture, is neither written nor compared):

    >>> features = VideoFeatures.from_json(path.read_text())   # doctest: +SKIP
    >>> VideoFeatures.from_json(features.to_json()) == features  # doctest: +SKIP
    True

Units, chosen so that nothing depends on the analysis resolution or the frame rate:
- time in seconds from the first decoded frame;
- flow speed and the directogram in *frame diagonals per second* (``diag/s``): the mean optical-flow
  magnitude in pixels, divided by the analysed frame's diagonal in pixels and by the time between
  the two frames. A pan that crosses the whole picture diagonally in 2 s is 0.5 diag/s.
- colour statistics in [0, 1] (warmth in [-1, 1]); colourfulness on Hasler and Suesstrunk's scale
  divided by 255.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np

SCHEMA_VERSION = 1

#: Height in pixels of the frames shown along the top of the timeline picture.
PICTURE_HEIGHT = 90

CutKind = Literal["cut", "fade"]


@dataclass(frozen=True)
class VideoInfo:
    """The source video as decoded: display size (after rotation and pixel aspect), timing.

    ``fps`` is the nominal (average) frame rate as a fraction; ``fps_source`` says where it came
    from: ``"container"`` metadata, ``"timestamps"`` (metadata missing or implausible, so the
    median frame interval was used), or ``"override"`` (the user's ``--fps``).
    """

    path: str
    width: int
    height: int
    rotation: int
    codec: str
    fps: Fraction
    fps_source: str
    duration: float
    frame_count: int
    analysis_width: int
    analysis_height: int
    variable_frame_rate: bool


@dataclass(frozen=True)
class Cut:
    """A shot boundary at ``time`` (the first frame of the new shot).

    ``strength`` is the mean absolute colour difference (0..1) between the last frame before and
    the first frame after the cut, measured the same way whichever detector found it, so cuts from
    different detectors can be ranked together. ``kind`` is ``"cut"`` for a hard cut and ``"fade"``
    for a gradual transition through black (whose ``time`` is the middle of the dark part).
    """

    time: float
    frame: int
    strength: float
    kind: CutKind = "cut"


@dataclass(frozen=True)
class VisualBeat:
    """A peak of the visual impact envelope: a sudden stop, reversal or flash.

    ``weight`` in (0, 1] is the peak's prominence relative to the strongest beat of the video.
    """

    time: float
    frame: int
    weight: float


def picture_times(duration: float) -> tuple[float, ...]:
    """When the timeline picture shows the video: the middles of equal spans, one span for
    about every 2 s, 4 to 12 of them."""
    count = int(np.clip(round(duration / 2), 4, 12))
    edges = np.linspace(0.0, duration, count + 1)
    return tuple(((edges[:-1] + edges[1:]) / 2).tolist())


def scene_letter(group: int) -> str:
    """A, B, ... Z, then A2, B2, ... for a 0-based scene (or form) group."""
    letter = chr(ord("A") + group % 26)
    return letter + (str(group // 26 + 1) if group >= 26 else "")


@dataclass(frozen=True)
class Shot:
    """The span between two cuts, with its colour, brightness and motion statistics.

    ``scene`` groups shots that show the same place or look (:mod:`.scenes`), 0-based in order
    of first appearance; ``-1`` in features analysed before scenes were grouped.
    """

    start: float
    end: float
    start_frame: int
    end_frame: int
    brightness: float
    saturation: float
    colourfulness: float
    warmth: float
    mean_speed: float
    scene: int = -1


@dataclass(frozen=True)
class VideoFeatures:
    """Everything the timeline needs from a video, as one JSON-serialisable value.

    The per-sample series (``times``, ``flow_speed``, ``saliency``) share one index: one entry per
    analysed frame (every decoded frame, or fewer when the frame rate is above the configured
    analysis rate).
    """

    info: VideoInfo
    times: tuple[float, ...]
    flow_speed: tuple[float, ...]
    saliency: tuple[float, ...]
    beats: tuple[VisualBeat, ...]
    visual_tempo: float | None
    tempo_confidence: float
    cuts: tuple[Cut, ...]
    shots: tuple[Shot, ...]
    analysis: dict[str, Any] = field(default_factory=dict)
    version: int = SCHEMA_VERSION
    #: (h, w, 3) uint8 RGB frames, :data:`PICTURE_HEIGHT` high, at ``picture_times(duration)``,
    #: kept by the analysis's own decode so that the timeline picture needs no second one; not
    #: serialised (features read back from JSON have none, and the picture decodes them anew)
    pictures: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.times)
        if len(self.flow_speed) != n or len(self.saliency) != n:
            raise ValueError(
                f"per-sample series differ in length: times {n}, flow_speed "
                f"{len(self.flow_speed)}, saliency {len(self.saliency)}"
            )

    @property
    def hard_cuts(self) -> tuple[Cut, ...]:
        """Only the hard cuts (no fades)."""
        return tuple(c for c in self.cuts if c.kind == "cut")

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON types only); fractions become ``"num/den"`` strings."""
        data = asdict(replace(self, pictures=()))  # not the frames: they are not written
        del data["pictures"]
        data["info"]["fps"] = f"{self.info.fps.numerator}/{self.info.fps.denominator}"
        return data

    def to_json(self, indent: int | None = None) -> str:
        """Serialise to JSON text; :meth:`from_json` reads it back to an equal value."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoFeatures:
        """Build from :meth:`to_dict` output; rejects other schema versions."""
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported video-features version {version!r} "
                f"(this build reads {SCHEMA_VERSION})"
            )
        info = dict(data["info"])
        info["fps"] = Fraction(info["fps"])
        return cls(
            info=VideoInfo(**info),
            times=tuple(data["times"]),
            flow_speed=tuple(data["flow_speed"]),
            saliency=tuple(data["saliency"]),
            beats=tuple(VisualBeat(**b) for b in data["beats"]),
            visual_tempo=data["visual_tempo"],
            tempo_confidence=data["tempo_confidence"],
            cuts=tuple(Cut(**c) for c in data["cuts"]),
            shots=tuple(Shot(**s) for s in data["shots"]),
            analysis=dict(data.get("analysis", {})),
            version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> VideoFeatures:
        """Parse JSON written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
