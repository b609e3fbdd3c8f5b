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


def frame_colour(thumb: np.ndarray) -> tuple[float, float, float]:
    """(saturation, colourfulness, warmth) of a (h, w, 3) uint8 BGR image."""
    saturation = float(cv2.cvtColor(thumb, cv2.COLOR_BGR2HSV)[..., 1].mean()) / 255.0
    bgr = thumb.astype(np.float32)
    blue, green, red = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    colourfulness = (
        float(np.hypot(rg.std(), yb.std())) + 0.3 * float(np.hypot(rg.mean(), yb.mean()))
    ) / 255.0
    warmth = float((red - blue).mean()) / 255.0
    return saturation, colourfulness, warmth


class ColourTracker:
    """Per-frame brightness and colour, kept as compact arrays (a few bytes per frame)."""

    def __init__(self) -> None:
        self.brightness = array("d")
        self.saturation = array("d")
        self.colourfulness = array("d")
        self.warmth = array("d")

    def update(self, thumb: np.ndarray, brightness: float) -> None:
        """Add one frame: its thumbnail and its mean luma (0..1)."""
        saturation, colourfulness, warmth = frame_colour(thumb)
        self.brightness.append(brightness)
        self.saturation.append(saturation)
        self.colourfulness.append(colourfulness)
        self.warmth.append(warmth)

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
