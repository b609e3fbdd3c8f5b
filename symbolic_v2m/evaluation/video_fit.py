"""How well a piece of music fits a video, judged from the MIDI file and a fresh analysis.

    >>> fit = video_fit(read_piece(Path("clip.mid")), analyze_video("clip.mp4"))  # doctest: +SKIP
    >>> fit["cut_beat_recall"], fit["density_speed_spearman"]                     # doctest: +SKIP
    (1.0, 0.83)

Definitions (every time in seconds, every beat and bar from the MIDI's own tempo map):

- **Cut-on-beat recall** (the alignment metric of the video-to-music literature, e.g. the
  "beat hit" recall of scene cuts): the share of the video's hard cuts that lie within
  :data:`CUT_TOLERANCE` (0.1 s) of a beat; **cut-on-downbeat recall** the same for bar lines.
  ``cut_downbeat_recall_spaced`` counts only cuts at least one bar (at the music's median bar
  length) from every neighbouring transition (hard cuts, fades, the video's start and end): two
  transitions closer than a bar cannot both open a bar. ``spaced_cuts`` says how many there
  were (the recall is NaN when there are none).
- **Density-speed correlation:** Spearman's rho between the onset density of each bar
  (distinct note onsets per beat of the bar) and the mean optical-flow speed over that bar's
  frames (CMT's density control follows flow speed). With one meter throughout this ranks bars
  exactly as CMT's onsets per bar; per beat, a short bar (a 2/4 bar that lets a cut or the
  video's end fall on a bar line) is judged by how busy it is, not by how long. NaN when
  either is constant.
- **Strong visual beats met:** the strong visual beats (weight at or above the median weight of
  the video's visual beats) that have a strong music onset within a 16th note (a quarter of the
  local beat); a strong onset is one whose summed velocity of notes starting together (drums
  included) is in the top :data:`STRONG_ONSET_SHARE` of the piece's onsets (and, when onsets
  differ at all, above the quietest: a piece of equal onsets has them all strong, a piece of
  mostly equal single notes with a few loud chords has only the chords).
- **Length mismatch:** music end minus video duration (positive: the music runs longer).
"""

from __future__ import annotations

import numpy as np

from symbolic_v2m.evaluation.piece import Piece
from symbolic_v2m.video.features import VideoFeatures

#: a cut "on" a beat lies within this many seconds of it
CUT_TOLERANCE = 0.1
#: onsets closer than this are one onset (one simu-note across tracks)
ONSET_MERGE = 0.03
#: share of a piece's onsets (by summed velocity) that count as strong
STRONG_ONSET_SHARE = 0.25

VIDEO_FIT_METRICS = (
    "cut_beat_recall",
    "cut_downbeat_recall",
    "cut_downbeat_recall_spaced",
    "spaced_cuts",
    "density_speed_spearman",
    "strong_visual_beats_met",
    "length_mismatch",
)


def _recall(times: np.ndarray, grid: np.ndarray, tolerance: float) -> float:
    if len(times) == 0:
        return float("nan")
    if len(grid) == 0:
        return 0.0
    distance = np.abs(times[:, None] - grid[None, :]).min(axis=1)
    return float(np.mean(distance <= tolerance + 1e-9))


def spaced_cuts(cuts: np.ndarray, boundaries: np.ndarray, bar: float) -> np.ndarray:
    """The ``cuts`` at least ``bar`` seconds (less the tolerance) from every other time in
    ``boundaries`` (other cuts, fades, the video's start and end)."""
    cuts = np.asarray(cuts, dtype=float)
    if len(cuts) == 0:
        return cuts
    distance = np.abs(cuts[:, None] - np.asarray(boundaries, dtype=float)[None, :])  # (C, K)
    distance[distance < 1e-9] = np.inf  # a cut is not its own neighbour
    return cuts[distance.min(axis=1) >= bar - CUT_TOLERANCE]


def cut_recall(
    cuts: np.ndarray, piece: Piece, boundaries: np.ndarray | None = None
) -> tuple[float, float, float]:
    """(beat recall, downbeat recall, downbeat recall of the cuts a bar or more from every time
    in ``boundaries``; by default the other cuts)."""
    cuts = np.asarray(cuts, dtype=float)
    beat = _recall(cuts, piece.beats, CUT_TOLERANCE)
    downbeat = _recall(cuts, piece.downbeats, CUT_TOLERANCE)
    bar = float(np.median(np.diff(piece.bar_edges())))
    spaced = spaced_cuts(cuts, cuts if boundaries is None else boundaries, bar)
    return beat, downbeat, _recall(spaced, piece.downbeats, CUT_TOLERANCE)


def onsets(piece: Piece, include_drums: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distinct onset times (onsets within :data:`ONSET_MERGE` merged) and the summed velocity
    of the notes starting at each."""
    notes = piece.notes if include_drums else piece.pitched()
    if len(notes) == 0:
        return np.zeros(0), np.zeros(0)
    starts, velocities = notes[:, 0], notes[:, 3]  # sorted by start
    group = np.concatenate([[0], np.cumsum(np.diff(starts) > ONSET_MERGE)])
    times = np.array([starts[group == g][0] for g in range(group[-1] + 1)])
    weight = np.bincount(group, weights=velocities)
    return times, weight


def density_speed_spearman(piece: Piece, times: np.ndarray, speed: np.ndarray) -> float:
    """Spearman's rho of onsets per beat in each bar vs mean flow speed per bar (module doc)."""
    edges = piece.bar_edges()
    starts, _ = onsets(piece)
    beats_in_bar = np.maximum(np.histogram(piece.beats, bins=edges)[0], 1)
    per_bar = np.histogram(starts, bins=edges)[0] / beats_in_bar
    bar_of_frame = np.searchsorted(edges, times, side="right") - 1
    bar_speed = np.full(len(per_bar), np.nan)
    for b in range(len(per_bar)):
        frames = speed[bar_of_frame == b]
        if len(frames):
            bar_speed[b] = frames.mean()
    keep = ~np.isnan(bar_speed)
    if keep.sum() < 3 or np.ptp(per_bar[keep]) == 0 or np.ptp(bar_speed[keep]) == 0:
        return float("nan")
    from scipy.stats import spearmanr  # slow to import: only where it is used

    return float(spearmanr(per_bar[keep], bar_speed[keep]).statistic)


def strong_beats_met(piece: Piece, beat_times: np.ndarray, beat_weights: np.ndarray) -> float:
    """Share of strong visual beats with a strong music onset within a 16th (module doc)."""
    if len(beat_times) == 0:
        return float("nan")
    strong_visual = beat_times[beat_weights >= np.median(beat_weights)]
    times, weight = onsets(piece, include_drums=True)
    if len(times) == 0:
        return 0.0
    strong = weight >= np.quantile(weight, 1 - STRONG_ONSET_SHARE)
    if np.ptp(weight) > 0:  # ties at the threshold: the quietest onsets are never strong
        strong &= weight > weight.min()
    strong_music = times[strong]
    beats = piece.beats if len(piece.beats) > 1 else np.array([0.0, 0.5])
    index = np.clip(np.searchsorted(beats, strong_visual) - 1, 0, len(beats) - 2)
    sixteenth = (beats[index + 1] - beats[index]) / 4
    distance = np.abs(strong_visual[:, None] - strong_music[None, :]).min(axis=1)
    return float(np.mean(distance <= sixteenth + 1e-9))


#: seconds either side of a moment whose onsets make its surroundings (accent contrast)
ACCENT_WINDOW = 2.0


def accent_contrast(piece: Piece, moments: np.ndarray) -> np.ndarray:
    """How much louder the music strikes at each of ``moments`` (seconds) than around it: the
    summed velocity of the onset group there (every track, drums included; the group within a
    32nd note of the moment), over the median group within :data:`ACCENT_WINDOW` seconds
    around it (itself left out). 0 where nothing starts there; nan with nothing around."""
    times, weight = onsets(piece, include_drums=True)
    out = np.full(len(moments), np.nan)
    if len(times) == 0:
        return np.zeros(len(moments))
    beats = piece.beats if len(piece.beats) > 1 else np.array([0.0, 0.5])
    for i, moment in enumerate(np.asarray(moments, dtype=float)):
        index = int(np.clip(np.searchsorted(beats, moment) - 1, 0, len(beats) - 2))
        thirty_second = (beats[index + 1] - beats[index]) / 8
        nearest = int(np.argmin(np.abs(times - moment)))
        around = np.abs(times - moment) <= ACCENT_WINDOW
        if abs(times[nearest] - moment) > thirty_second + 1e-6:
            out[i] = 0.0
            continue
        around[nearest] = False
        if around.any():
            out[i] = weight[nearest] / float(np.median(weight[around]))
    return out


def video_fit(piece: Piece, features: VideoFeatures) -> dict[str, float]:
    """Every video-fit metric (names in :data:`VIDEO_FIT_METRICS`) of ``piece`` on ``features``."""
    cuts = np.array([c.time for c in features.cuts if c.kind == "cut"])
    boundaries = np.array([0.0, *(c.time for c in features.cuts), features.info.duration])
    beat, downbeat, spaced = cut_recall(cuts, piece, boundaries)
    bar = float(np.median(np.diff(piece.bar_edges())))
    beats = np.array([b.time for b in features.beats])
    weights = np.array([b.weight for b in features.beats])
    return {
        "cut_beat_recall": beat,
        "cut_downbeat_recall": downbeat,
        "cut_downbeat_recall_spaced": spaced,
        "spaced_cuts": float(len(spaced_cuts(cuts, boundaries, bar))),
        "density_speed_spearman": density_speed_spearman(
            piece, np.array(features.times), np.array(features.flow_speed)
        ),
        "strong_visual_beats_met": strong_beats_met(piece, beats, weights),
        "length_mismatch": piece.end - features.info.duration,
    }
