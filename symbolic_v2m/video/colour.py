"""Colour and brightness statistics per frame, aggregated per shot (the input of mood mapping).

    >>> stats = ColourTracker()                  # doctest: +SKIP
    >>> stats.update(thumbnail, gray)            # once per frame
    >>> shots = stats.shots(times, cuts, ...)    # doctest: +SKIP

Statistics are measured on a small thumbnail (a few thousand pixels), which changes them by
well under 1% against the analysis frame and costs almost nothing.

- brightness: mean luma, 0..1;
- saturation: mean HSV saturation, 0..1;
- colourfulness: Hasler and Suesstrunk's metric (2003), sigma_rgyb + 0.3 mu_rgyb, divided by 255;
- warmth: mean (R - B) / 255, -1 (blue, cool) .. 1 (red/orange, warm).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import cv2
import numpy as np

from symbolic_v2m.video.features import Cut, Shot

BATCH_FRAMES = 256  # thumbnails measured together: per-call overhead dominates at this size


def colour_statistics(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(saturation, colourfulness, warmth), each (N,), of (N, h, w, 3) uint8 BGR thumbnails.

    Measured a batch at a time: on a few thousand pixels, numpy's and OpenCV's per-call overhead
    costs more than the arithmetic. Each frame's figures are those of the frame alone (the
    reductions run along each frame's own pixels, in the same order).
    """
    n, h, w, _ = thumbs.shape
    hsv = cv2.cvtColor(thumbs.reshape(n * h, w, 3), cv2.COLOR_BGR2HSV)  # (N*h, w, 3)
    saturation = hsv.reshape(n, h * w, 3)[..., 1].mean(axis=1) / 255.0  # (N,)
    bgr = thumbs.reshape(n, h * w, 3).astype(np.float32)  # (N, h*w, 3)
    blue, green, red = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = np.hypot(rg.std(axis=1), yb.std(axis=1)).astype(np.float64)
    offset = np.hypot(rg.mean(axis=1), yb.mean(axis=1)).astype(np.float64)
    colourfulness = (spread + 0.3 * offset) / 255.0
    warmth = (red - blue).mean(axis=1).astype(np.float64) / 255.0
    return saturation, colourfulness, warmth


class ColourTracker:
    """Per-frame brightness and colour, kept as compact arrays (a few bytes per frame).

    Thumbnails wait in a buffer of ``BATCH_FRAMES`` and are measured together; the statistics
    of every frame fed so far are complete once :meth:`flush` (or :meth:`shots`) has run.
    """

    def __init__(self) -> None:
        self.brightness = array("d")
        self.saturation = array("d")
        self.colourfulness = array("d")
        self.warmth = array("d")
        self._pending: np.ndarray | None = None  # (BATCH_FRAMES, h, w, 3) uint8
        self._count = 0

    def update(self, thumb: np.ndarray, brightness: float) -> None:
        """Add one frame: its thumbnail and its mean luma (0..1)."""
        if self._pending is None or self._pending.shape[1:] != thumb.shape:
            self.flush()
            self._pending = np.empty((BATCH_FRAMES, *thumb.shape), np.uint8)
        self._pending[self._count] = thumb
        self._count += 1
        self.brightness.append(brightness)
        if self._count == BATCH_FRAMES:
            self.flush()

    def flush(self) -> None:
        """Measure the thumbnails still waiting."""
        if self._pending is None or self._count == 0:
            return
        saturation, colourfulness, warmth = colour_statistics(self._pending[: self._count])
        self.saturation.extend(saturation.tolist())
        self.colourfulness.extend(colourfulness.tolist())
        self.warmth.extend(warmth.tolist())
        self._count = 0

    def shots(
        self,
        frame_times: Sequence[float],
        end_time: float,
        cuts: Sequence[Cut],
        sample_frames: np.ndarray,
        speed: np.ndarray,
    ) -> tuple[Shot, ...]:
        """Split the video at ``cuts`` and average each statistic over each shot.

        ``sample_frames`` (N,) and ``speed`` (N,) are the motion samples; a shot's mean speed is
        over the samples inside it.
        """
        self.flush()
        count = len(self.brightness)
        bounds = [0, *[c.frame for c in cuts if 0 < c.frame < count], count]
        series = [np.frombuffer(a, dtype=np.float64) for a in
                  (self.brightness, self.saturation, self.colourfulness, self.warmth)]  # fmt: skip
        result = []
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            if stop <= start:
                continue
            inside = (sample_frames >= start) & (sample_frames < stop)
            mean_speed = float(speed[inside].mean()) if inside.any() else 0.0
            b, s, c, w = (float(x[start:stop].mean()) for x in series)
            result.append(
                Shot(
                    start=frame_times[start],
                    end=frame_times[stop] if stop < count else end_time,
                    start_frame=start,
                    end_frame=stop,
                    brightness=round(b, 4),
                    saturation=round(s, 4),
                    colourfulness=round(c, 4),
                    warmth=round(w, 4),
                    mean_speed=round(mean_speed, 5),
                )
            )
        return tuple(result)
