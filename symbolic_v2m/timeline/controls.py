"""Video motion -> music control classes: per-bar density, per-onset strength.

Density (after CMT): the mean flow speed over each bar becomes a *quantile* ``q``, and the
density class is the value at ``q`` of the training data's density distribution for that bar's
meter (the calibration tables of :mod:`symbolic_v2m.data.stats`). So a video asks for densities
in the proportions the model has seen, and faster bars always get denser music.

``q`` blends two views of the bar's speed (``contrast`` weighs them):

- its rank among the video's own bars: the per-video contrast term, so a calm video still has
  its relatively busier and quieter bars;
- its place on a reference distribution of bar speeds (a logistic in log-speed; median and
  spread in :data:`REFERENCE_MEDIAN`, :data:`REFERENCE_SPREAD`, measured on the reference clips
  in ``bench/RESULTS.md``), so a still video stays sparse and a frantic one dense as a whole.

The user's ``energy`` (-1..1) shifts every ``q`` by up to a quarter.

Strength: visual beats (motion-saliency peaks) become *required onsets* on their nearest tick,
and their weight, by the same quantile matching against the training data's strength
distribution, the number of notes struck there; the accompaniment (and percussion) hit the
strongest accents hardest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symbolic_v2m.music.score import TICKS_PER_BEAT, TempoMap, TimeSignature

#: Reference bar speed (diag/s) at the 50th percentile, and the spread (natural-log units) of
#: the logistic reference distribution; see bench/RESULTS.md "Reference motion".
REFERENCE_MEDIAN = 0.01
REFERENCE_SPREAD = 1.5


@dataclass(frozen=True)
class ControlConfig:
    """How motion maps to controls (see the module doc)."""

    energy: float = 0.0
    contrast: float = 0.5
    reference_median: float = REFERENCE_MEDIAN
    reference_spread: float = REFERENCE_SPREAD
    strong_beat: float = 0.35
    quantile_floor: float = 0.03


def bar_speeds(
    times: Sequence[float], speeds: Sequence[float], tempo: TempoMap, bar_starts: np.ndarray
) -> np.ndarray:
    """Mean flow speed over each bar's time span -> (n_bars,); bars with no sample interpolate."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(speeds, dtype=np.float64)
    edges = np.array([tempo.seconds(int(b)) for b in bar_starts])
    out = np.zeros(len(bar_starts) - 1)
    for i in range(len(out)):
        inside = (t >= edges[i]) & (t < edges[i + 1])
        if inside.any():
            out[i] = v[inside].mean()
        elif len(t):
            out[i] = float(np.interp(0.5 * (edges[i] + edges[i + 1]), t, v))
    return out


def motion_quantiles(speeds: np.ndarray, config: ControlConfig) -> np.ndarray:
    """Each bar's quantile in [floor, 1 - floor] (see the module doc)."""
    n = len(speeds)
    if n == 0:
        return speeds
    ranks = (np.argsort(np.argsort(speeds, kind="stable"), kind="stable") + 0.5) / n
    log_ratio = np.log(np.maximum(speeds, 1e-4) / config.reference_median)
    absolute = 1.0 / (1.0 + np.exp(-log_ratio / config.reference_spread))
    q = config.contrast * ranks + (1 - config.contrast) * absolute + 0.25 * config.energy
    return np.clip(q, config.quantile_floor, 1 - config.quantile_floor)


def quantile_of(histogram: Sequence[int], q: float) -> int:
    """The value (bin index) at quantile ``q`` of a histogram."""
    counts = np.asarray(histogram, dtype=np.float64)
    cdf = np.cumsum(counts) / counts.sum()
    return int(np.searchsorted(cdf, q, side="left"))


def density_classes(
    quantiles: np.ndarray, meters: Sequence[TimeSignature], tables: dict[str, list[int]]
) -> np.ndarray:
    """Density per bar from quantiles and the calibration density tables (by meter)."""
    out = np.zeros(len(quantiles), dtype=np.int64)
    for i, (q, meter) in enumerate(zip(quantiles, meters, strict=True)):
        ticks = meter.ticks(TICKS_PER_BEAT)
        table = tables.get(str(meter))
        if table is None or sum(table) < 100:  # a rare meter: scale the 4/4 answer
            value = round(quantile_of(tables["4/4"], q) * ticks / 16)
        else:
            value = quantile_of(table, q)
        out[i] = min(value, ticks)
    return out


def strength_classes(weights: np.ndarray, table: Sequence[int]) -> np.ndarray:
    """Strength per visual beat: its weight's quantile (rank blended with the weight itself)
    mapped onto the calibration strength distribution (``table[i]`` counts strength ``i + 1``)."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    ranks = (np.argsort(np.argsort(weights, kind="stable"), kind="stable") + 0.5) / len(weights)
    q = np.clip(0.5 * ranks + 0.5 * weights, 0.0, 0.999)
    return np.array([quantile_of(table, float(x)) + 1 for x in q], dtype=np.int64)
