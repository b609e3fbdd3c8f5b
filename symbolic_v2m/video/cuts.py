"""Scene cuts with PySceneDetect, fed from our own frame stream.

    >>> tracker = CutTracker(CutConfig(), fps=Fraction(30))       # doctest: +SKIP
    >>> for frame in frames: tracker.update(frame, thumbnail(frame))
    >>> cuts = tracker.finish()                                   # doctest: +SKIP

We hand PySceneDetect's detectors the frames we already decode instead of calling
``scenedetect.detect()``, which would decode the video a second time. Frames carry their true
presentation times (``Timecode`` with a microsecond time base), so cuts in variable-frame-rate
video land at the right second.

Two things PySceneDetect does not give are added here:
- a detector-independent *strength* per cut (mean absolute colour difference of small thumbnails
  across the cut, 0..1), so cuts can be ranked whichever detector found them;
- a flash guard: a "cut" after which the picture returns to what it was within a few frames is a
  flash (a photographer's strobe, an explosion), not a new shot, and is dropped.
Fades to and from black come from PySceneDetect's ThresholdDetector run alongside.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scenedetect import FrameTimecode, SceneDetector
from scenedetect.common import Timecode
from scenedetect.detectors import (
    AdaptiveDetector,
    ContentDetector,
    HashDetector,
    HistogramDetector,
    ThresholdDetector,
)

from symbolic_v2m.errors import ConfigError
from symbolic_v2m.video.decode import Frame
from symbolic_v2m.video.features import Cut

DETECTORS: dict[str, type[SceneDetector]] = {
    "adaptive": AdaptiveDetector,
    "content": ContentDetector,
    "histogram": HistogramDetector,
    "hash": HashDetector,
}
# The keyword each detector calls its threshold.
_THRESHOLD_ARG = {
    "adaptive": "adaptive_threshold",
    "content": "threshold",
    "histogram": "threshold",
    "hash": "threshold",
}
FLASH_LOOKAHEAD = 3  # frames after a cut at which the picture must still be different
FLASH_RETURN = 0.5  # ...by at least this fraction of the jump at the cut
FADE_LEVEL = 12  # ThresholdDetector's default: mean 8-bit intensity below which a frame is "black"
_TIME_BASE = Fraction(1, 1_000_000)


@dataclass(frozen=True)
class CutConfig:
    """How to find cuts.

    Attributes:
        detector: PySceneDetect detector: ``adaptive`` (default), ``content``, ``histogram``,
            ``hash``.
        threshold: the detector's own threshold (its units differ: adaptive ratio 3.0, content
            27, histogram 0.05, hash 0.395 by default); None keeps the detector's default.
        fades: also report fades through black (PySceneDetect's ThresholdDetector).
    """

    detector: str = "adaptive"
    threshold: float | None = None
    fades: bool = True

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ConfigError(
                f"unknown cut detector {self.detector!r} (choose from {', '.join(DETECTORS)})"
            )
        if self.threshold is not None and not self.threshold > 0:
            raise ConfigError(f"cut threshold must be positive (received {self.threshold})")


def make_detector(config: CutConfig) -> SceneDetector:
    """The PySceneDetect detector that ``config`` names."""
    kwargs = {} if config.threshold is None else {_THRESHOLD_ARG[config.detector]: config.threshold}
    return DETECTORS[config.detector](**kwargs)


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two equal-size uint8 images, scaled to 0..1."""
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16)))) / 255.0


class CutTracker:
    """Streams frames through a PySceneDetect detector and collects :class:`Cut` values."""

    def __init__(
        self, config: CutConfig, fps: Fraction, times: Sequence[float], luma: Sequence[float]
    ) -> None:
        """``times`` and ``luma`` are the caller's growing per-frame logs (seconds, mean luma
        0..1), read here to map detector timecodes back to frames and to measure fades."""
        self.config = config
        self.fps = fps
        self._detector = make_detector(config)
        self._fade_detector = ThresholdDetector(threshold=FADE_LEVEL) if config.fades else None
        self._times = times
        self._luma = luma
        # Enough recent thumbnails to look back across the detector's delay and ahead for flashes.
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=32)
        self._pending: list[int] = []
        self._cuts: list[Cut] = []
        self._fades: list[int] = []
        self._last: FrameTimecode | None = None

    def _timecode(self, time: float) -> FrameTimecode:
        return FrameTimecode(Timecode(pts=round(time * 1_000_000), time_base=_TIME_BASE), self.fps)

    def _frame_at(self, timecode: FrameTimecode) -> int:
        """Index of the frame whose time is nearest to the detector's timecode."""
        seconds = float(timecode.seconds)
        i = bisect.bisect_left(self._times, seconds - 1e-7)
        if i >= len(self._times):
            return len(self._times) - 1
        if i > 0 and abs(self._times[i - 1] - seconds) < abs(self._times[i] - seconds):
            return i - 1
        return i

    def _thumb(self, index: int) -> np.ndarray | None:
        for i, thumb in reversed(self._recent):
            if i == index:
                return thumb
            if i < index:
                break
        return None

    def update(self, frame: Frame, thumb: np.ndarray) -> None:
        """Process the next frame (already logged in ``times`` and ``luma``); ``thumb`` is a
        small (h, w, 3) copy used for strength and the flash guard."""
        self._recent.append((frame.index, thumb))
        timecode = self._timecode(frame.time)
        self._last = timecode
        for found in self._detector.process_frame(timecode, frame.detector_image):
            self._pending.append(self._frame_at(found))
        if self._fade_detector is not None:
            for found in self._fade_detector.process_frame(timecode, frame.detector_image):
                self._fades.append(self._frame_at(found))
        self._resolve(frame.index, final=False)

    def _resolve(self, current: int, final: bool) -> None:
        keep = []
        for cut in self._pending:
            if not final and current < cut + FLASH_LOOKAHEAD:
                keep.append(cut)
                continue
            before, after = self._thumb(cut - 1), self._thumb(cut)
            if before is None or after is None:  # cut on the first frame: nothing to compare
                continue
            jump = colour_distance(before, after)
            later = self._thumb(min(cut + FLASH_LOOKAHEAD, current))
            if later is not None and cut + FLASH_LOOKAHEAD <= current:
                if colour_distance(before, later) < FLASH_RETURN * jump:
                    continue  # the picture came back: a flash, not a cut
            self._cuts.append(
                Cut(time=self._times[cut], frame=cut, strength=round(jump, 4), kind="cut")
            )
        self._pending = keep

    def finish(self) -> tuple[Cut, ...]:
        """Flush the detectors and return all cuts and fades in time order."""
        if self._last is not None:
            for found in self._detector.post_process(self._last):
                self._pending.append(self._frame_at(found))
        self._resolve(len(self._times) - 1, final=True)
        cuts = list(self._cuts)
        hard = [c.frame for c in cuts]
        min_gap = max(1, round(float(self.fps) / 2))
        for frame in self._fades:
            if any(abs(frame - h) < min_gap for h in hard):
                continue  # a fade on top of a hard cut is the same boundary
            if self._opens_or_closes_in_black(frame):
                continue  # black before the first picture (or after the last) is no transition
            cuts.append(
                Cut(
                    time=self._times[frame],
                    frame=frame,
                    strength=round(self._fade_depth(frame), 4),
                    kind="fade",
                )
            )
        return tuple(sorted(cuts, key=lambda c: c.frame))

    def _opens_or_closes_in_black(self, frame: int) -> bool:
        dark = (FADE_LEVEL + 2) / 255.0
        start = frame
        while start > 0 and self._luma[start - 1] < dark:
            start -= 1
        stop = frame
        while stop + 1 < len(self._luma) and self._luma[stop + 1] < dark:
            stop += 1
        return start == 0 or stop == len(self._luma) - 1

    def _fade_depth(self, frame: int) -> float:
        """How far brightness fell into the fade: brightest of the second before, minus here."""
        span = max(1, round(float(self.fps)))
        window = self._luma[max(0, frame - span) : frame + 1]
        return max(0.0, min(1.0, max(window) - self._luma[frame]))
