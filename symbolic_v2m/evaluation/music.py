"""Music metrics of the ``evaluate`` command: one number per metric for a :class:`Piece`.

    >>> music_metrics(read_piece(Path("clip.mid")))      # doctest: +SKIP
    {'pitch_class_entropy': 2.79, 'pitch_entropy': 4.41, ..., 'structureness': 0.71}

Every metric reads the pitched (non-drum) notes of all tracks together, in seconds, judged
against the piece's own beats and bar lines. A metric that has nothing to measure (no notes, a
single onset, a single non-empty bar, too few beats) returns ``nan``; :func:`mean_metrics` leaves
such pieces out of that metric's mean.

Definitions, sources, and how they compare with the POP909 reference values of
``../shared/README.md`` (all tracks on the ``beat_midi.txt`` grid; our figures are the mean over
all 909 songs loaded with :class:`~symbolic_v2m.data.pop909.Pop909` and
:func:`~symbolic_v2m.evaluation.piece.piece_from_score`, i.e. quantised to 16ths):

- ``pitch_class_entropy`` (Yang & Lerch, "On the evaluation of generative models in music",
  Neural Computing and Applications 2020; MusDr's pitch-class histogram entropy H, Wu & Yang
  2020, "The Jazz Transformer on the front line"): Shannon entropy in bits of the 12-bin
  pitch-class histogram (one count per note) over the **whole piece**. 2.818 vs 2.817 stated
  (MusDr's 1-bar and 4-bar window averages give 2.10 and 2.62, so the reference is whole-piece).
- ``pitch_entropy`` (Yang & Lerch 2020; MusPy's pitch entropy): the same over the 128 MIDI
  pitches, whole piece. 4.460 vs 4.456 stated (4-bar windows: 3.98).
- ``scale_consistency`` (Mogren 2016, "C-RNN-GAN"; used by V-MusProd, Zhuo et al. ICCV 2023):
  the largest share of notes whose pitch class lies in one major scale, i.e. the best of the 12
  major (= relative natural minor) pitch-class sets. 0.965 vs 0.965 stated.
- ``grooving_similarity`` (MusDr's grooving pattern similarity GS, Wu & Yang 2020): per bar a
  binary onset vector over ``Q = 16`` equal positions (16ths in 4/4; an onset goes to the nearest
  position, one within half a step of the next downbeat to that bar's first; a last bar cut
  short by the file's end keeps the length of the bar before it); two bars' similarity is
  ``1 - XOR(g_a, g_b) / Q``; the mean over **all pairs of non-empty bars**. 0.770 vs 0.770
  stated (with empty bars: 0.756; consecutive pairs only, as MusPy's groove consistency: 0.829;
  Q = 32: 0.883).
- ``empty_beat_rate`` (V-MusProd; MusPy's empty-beat rate): the share of beats in which **no
  note sounds** (a beat counts as played when any note overlaps it), over the beats from the
  first one up to the last beat in which a note sounds: leading silence counts, the silent
  beats that only complete the last bar do not. 0.0091 vs 0.008 stated (counting the trailing
  beats: 0.016; beats where no note *starts*: 0.042).
- ``mean_ioi`` (V-MusProd's inter-onset interval): mean time in seconds between consecutive
  **distinct** onset times (onsets closer than 1 ms are one). 0.318 vs 0.304 stated. Counting
  every note onset instead gives 0.152 vs 0.151 stated, so the onsets agree; the gap is in the
  merging: on 100 songs the raw POP909 files (unquantised, where a chord's notes often start a
  few ms apart) give 0.294, our 16th-quantised scores 0.319, and the reference lies between.
- ``notes_per_bar``: pitched notes per bar (chord tones counted). POP909: 20.1.
- ``polyphony`` (after MusPy's polyphony, Dong et al. 2020): the mean number of notes sounding at
  each distinct onset time (the notes starting there and those still held). POP909: 4.22.
- ``structureness``: a **symbolic stand-in** for MusDr's structureness indicator SI, which is the
  maximum of a fitness scape plot computed on an *audio* chroma self-similarity matrix; this is
  not numerically MusDr's SI and must not be compared with published SI values. Here: a 12-d
  chroma per beat (each note adds the share of the beat it sounds in to its pitch class), the
  cosine self-similarity matrix ``S`` of the beats (a silent beat is similar to nothing), and for
  segment lengths ``w`` of 8, 16 and 32 beats (2, 4 and 8 bars of 4/4): for every segment of
  ``w`` beats, its best match elsewhere is the highest mean of ``S`` along a lag diagonal over
  ``w`` beats, at a lag of at least ``w`` (the two copies do not overlap); the score at ``w`` is
  the mean best match over the segments that have such a partner inside the piece, and
  structureness is the mean over the lengths that fit twice into the piece. 1.0 when every
  passage recurs exactly; a piece that repeats nothing scores low. POP909: 0.903 (the first 200
  songs with their beats shuffled: 0.66; 16 bars of random 8th-note pitches: about 0.27; the
  same with the second half repeating the first: about 0.90).
- ``recurrence``: how much the piece repeats itself, bar by bar. Each bar is the set of its
  onsets as (16th position, pitch) pairs, on the grid of the grooving vectors; a bar's
  recurrence is its best Jaccard similarity (shared pairs / all pairs) to any earlier bar; the
  piece's is the mean over its non-empty bars that have an earlier non-empty bar (silence
  repeating silence is not form). POP909: 0.36 over the first 24 bars of 60 songs, 0.57 over
  whole songs (``bench/form.py``); a piece that never repeats a bar scores near 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import ArrayLike

from symbolic_v2m.evaluation.piece import Piece

#: positions per bar of the grooving vectors
GROOVE_POSITIONS = 16
#: structureness segment lengths, in beats
SEGMENT_BEATS = (8, 16, 32)
#: onsets closer than this (seconds) are one onset time
ONSET_TOLERANCE = 1e-3

_MAJOR_SETS = np.array([[(tonic + d) % 12 for d in (0, 2, 4, 5, 7, 9, 11)] for tonic in range(12)])
_EPS = 1e-6


# --- pitch ------------------------------------------------------------------------------------


def _entropy(values: np.ndarray, bins: int) -> float:
    if len(values) == 0:
        return math.nan
    counts = np.bincount(values.astype(int), minlength=bins).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no -0.0 for a single value


def pitch_class_entropy_of(pitches: ArrayLike) -> float:
    """Entropy (bits) of the 12-bin pitch-class histogram of MIDI pitches; ``nan`` if none."""
    return _entropy(np.asarray(pitches, dtype=int).reshape(-1) % 12, 12)


def scale_consistency_of(pitches: ArrayLike) -> float:
    """Largest share of MIDI pitches inside one major scale's pitch classes; ``nan`` if none."""
    pcs = np.asarray(pitches, dtype=int).reshape(-1) % 12
    if len(pcs) == 0:
        return math.nan
    counts = np.bincount(pcs, minlength=12)
    return float(counts[_MAJOR_SETS].sum(axis=1).max() / len(pcs))


def pitch_class_entropy(piece: Piece) -> float:
    """Entropy in bits of the pitch-class histogram of the whole piece.

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        0 for a single pitch class, 2 for four equally frequent ones, at most log2(12);
        ``nan`` without notes.
    """
    return pitch_class_entropy_of(piece.pitched()[:, 2])


def pitch_entropy(piece: Piece) -> float:
    """Entropy in bits of the 128-bin MIDI-pitch histogram of the whole piece.

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        The entropy (octaves count as different pitches); ``nan`` without notes.
    """
    return _entropy(piece.pitched()[:, 2], 128)


def scale_consistency(piece: Piece) -> float:
    """Largest share of notes that belong to one major (or relative natural minor) scale.

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        A share in [7/12, 1]; ``nan`` without notes.
    """
    return scale_consistency_of(piece.pitched()[:, 2])


# --- rhythm -----------------------------------------------------------------------------------


def _onset_times(notes: np.ndarray) -> np.ndarray:
    """Sorted distinct onset times; onsets within :data:`ONSET_TOLERANCE` of the previous kept
    one are merged into it."""
    onsets = np.sort(notes[:, 0])
    if len(onsets) == 0:
        return onsets
    keep = [0]
    for i in range(1, len(onsets)):
        if onsets[i] - onsets[keep[-1]] > ONSET_TOLERANCE:
            keep.append(i)
    return onsets[keep]


def _grid_positions(
    piece: Piece, notes: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The piece's bar count, and for each onset of ``notes`` that falls in a bar: its bar, its
    position (0..Q-1) and its row in ``notes``. An onset goes to the nearest of ``Q`` =
    :data:`GROOVE_POSITIONS` positions, one within half a step of the next downbeat to that
    bar's first; a last bar cut short by the file's end keeps the length of the bar before."""
    q = GROOVE_POSITIONS
    edges = piece.bar_edges()
    if len(edges) > 2:  # a file may stop before its last bar line: keep that bar full length
        edges[-1] = max(edges[-1], edges[-2] + (edges[-2] - edges[-3]))
    n_bars = len(edges) - 1
    onsets = notes[:, 0]
    bar = np.searchsorted(edges, onsets + _EPS, side="right") - 1
    inside = bar >= 0  # onsets before the first downbeat belong to no bar
    onsets, bar = onsets[inside], np.minimum(bar[inside], n_bars - 1)
    frac = (onsets - edges[bar]) / (edges[bar + 1] - edges[bar])
    pos = np.rint(frac * q).astype(int)
    wrap = pos >= q  # within half a step of the next downbeat: that bar's first position
    bar, pos = bar + wrap, np.where(wrap, 0, pos)
    keep = bar < n_bars
    return n_bars, bar[keep], pos[keep], np.flatnonzero(inside)[keep]


def _groove_vectors(piece: Piece, notes: np.ndarray) -> np.ndarray:
    """(bars, Q) binary onset vectors, one row per bar."""
    n_bars, bar, pos, _ = _grid_positions(piece, notes)
    grid = np.zeros((n_bars, GROOVE_POSITIONS), dtype=bool)
    grid[bar, pos] = True
    return grid


def grooving_similarity(piece: Piece) -> float:
    """MusDr's grooving pattern similarity: mean over all pairs of non-empty bars of
    ``1 - XOR(onset vectors) / Q``, with ``Q`` = :data:`GROOVE_POSITIONS`.

    Args:
        piece: the piece; drum notes are left out, all other tracks share one vector per bar.

    Returns:
        1 when every non-empty bar has the same onset positions; ``nan`` with fewer than two
        non-empty bars.
    """
    notes = piece.pitched()
    if len(notes) == 0 or piece.n_bars == 0:
        return math.nan
    grid = _groove_vectors(piece, notes)
    grid = grid[grid.any(axis=1)].astype(np.int64)
    if len(grid) < 2:
        return math.nan
    counts = grid.sum(axis=1)
    xor = counts[:, None] + counts[None, :] - 2 * (grid @ grid.T)
    upper = np.triu_indices(len(grid), 1)
    return float(np.mean(1.0 - xor[upper] / GROOVE_POSITIONS))


def _beat_edges(piece: Piece) -> np.ndarray:
    """(B + 1,) beat boundaries: the beats and the piece's end."""
    beats = np.asarray(piece.beats, dtype=float)
    return np.append(beats, max(piece.end, beats[-1] + _EPS))


def _beat_spans(edges: np.ndarray, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per note, the first beat it sounds in and one past the last (half-open)."""
    first = np.maximum(np.searchsorted(edges, notes[:, 0] + _EPS, side="right") - 1, 0)
    stop = np.minimum(np.searchsorted(edges, notes[:, 1] - _EPS, side="left"), len(edges) - 1)
    return first, stop


def empty_beat_rate(piece: Piece) -> float:
    """Share of beats in which no note sounds, from the first beat to the last one played.

    A beat counts as played when any note overlaps it (not only when one starts in it). Silent
    beats after the last note, which only complete the last bar, are not counted.

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        A share in [0, 1); ``nan`` without notes or beats.
    """
    notes = piece.pitched()
    if len(notes) == 0 or len(piece.beats) == 0:
        return math.nan
    edges = _beat_edges(piece)
    first, stop = _beat_spans(edges, notes)
    played = stop > first
    if not played.any():
        return math.nan
    n_beats = int(stop.max())
    change = np.zeros(n_beats + 1, dtype=int)
    np.add.at(change, first[played], 1)
    np.add.at(change, stop[played], -1)
    sounding = np.cumsum(change[:-1]) > 0
    return float(1.0 - sounding.mean())


def mean_ioi(piece: Piece) -> float:
    """Mean inter-onset interval in seconds between consecutive distinct onset times.

    Args:
        piece: the piece; drum notes are left out, the onsets of all tracks are merged.

    Returns:
        Seconds; ``nan`` with fewer than two distinct onsets.
    """
    onsets = _onset_times(piece.pitched())
    if len(onsets) < 2:
        return math.nan
    return float(np.mean(np.diff(onsets)))


def notes_per_bar(piece: Piece) -> float:
    """Pitched notes per bar (chord tones each count).

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        Notes over bars (0 for a piece with bars but no notes); ``nan`` without bars.
    """
    if piece.n_bars == 0:
        return math.nan
    return len(piece.pitched()) / piece.n_bars


def polyphony(piece: Piece) -> float:
    """Mean number of notes sounding at each distinct onset time.

    At an onset time ``t`` the notes sounding are those with ``start <= t < end`` (within
    :data:`ONSET_TOLERANCE` for the start): the notes that start there and those still held.

    Args:
        piece: the piece; drum notes are left out, all tracks together.

    Returns:
        At least 1 (a block triad everywhere gives 3); ``nan`` without notes.
    """
    notes = piece.pitched()
    onsets = _onset_times(notes)
    if len(onsets) == 0:
        return math.nan
    at = onsets + ONSET_TOLERANCE
    started = np.searchsorted(np.sort(notes[:, 0]), at, side="right")
    ended = np.searchsorted(np.sort(notes[:, 1]), at, side="right")
    return float(np.mean(started - ended))


# --- structure --------------------------------------------------------------------------------


def beat_chroma(piece: Piece) -> np.ndarray:
    """(B, 12) chroma per beat: each note adds, to its pitch class, the share of each beat it
    sounds in. Drum notes are left out; the last beat runs to the piece's end."""
    if len(piece.beats) == 0:
        return np.zeros((0, 12))
    edges = _beat_edges(piece)
    notes = piece.pitched()
    chroma = np.zeros((len(edges) - 1, 12))
    if len(notes) == 0:
        return chroma
    first, stop = _beat_spans(edges, notes)
    spans = np.maximum(stop - first, 0)
    note = np.repeat(np.arange(len(notes)), spans)
    beat = (
        np.repeat(first, spans)
        + np.arange(spans.sum())
        - np.repeat(np.cumsum(spans) - spans, spans)
    )
    overlap = np.minimum(notes[note, 1], edges[beat + 1]) - np.maximum(notes[note, 0], edges[beat])
    share = np.clip(overlap / (edges[beat + 1] - edges[beat]), 0.0, 1.0)
    np.add.at(chroma, (beat, notes[note, 2].astype(int) % 12), share)
    return chroma


def _best_matches(similarity: np.ndarray, w: int) -> np.ndarray:
    """Per segment of ``w`` beats that has a non-overlapping partner (lag >= w) inside the
    piece, its best mean similarity along a lag diagonal; ``nan`` for the others."""
    n = len(similarity)
    best = np.full(n - w + 1, -np.inf)
    index = np.arange(n)
    for lag in range(w, n - w + 1):
        diagonal = similarity[index[: n - lag], index[lag:]]
        sums = np.concatenate(([0.0], np.cumsum(diagonal)))
        window = (sums[w:] - sums[:-w]) / w  # segments starting at i and i + lag
        size = len(window)
        np.maximum(best[:size], window, out=best[:size])
        np.maximum(best[lag : lag + size], window, out=best[lag : lag + size])
    return np.where(np.isinf(best), np.nan, best)


def structureness(piece: Piece) -> float:
    """Symbolic repetition score from a beat-chroma self-similarity matrix (see the module doc;
    not numerically MusDr's audio structureness indicator).

    Args:
        piece: the piece; drum notes are left out.

    Returns:
        A score in [0, 1], 1 when every passage recurs exactly elsewhere; ``nan`` when the piece
        has fewer than ``2 * min(SEGMENT_BEATS)`` beats.
    """
    chroma = beat_chroma(piece)
    n = len(chroma)
    lengths = [w for w in SEGMENT_BEATS if n >= 2 * w]
    if not lengths:
        return math.nan
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    unit = np.divide(chroma, norms, out=np.zeros_like(chroma), where=norms > 0)
    similarity = unit @ unit.T
    return float(np.mean([np.nanmean(_best_matches(similarity, w)) for w in lengths]))


# --- form -----------------------------------------------------------------------------------


def bar_onset_sets(piece: Piece, notes: np.ndarray | None = None) -> list[frozenset]:
    """Per bar, its onsets as a set of (16th position, MIDI pitch) pairs, on the grid of the
    grooving vectors (module doc)."""
    notes = piece.pitched() if notes is None else notes
    bars: list[set] = [set() for _ in range(len(piece.bar_edges()) - 1)]
    if len(notes) and bars:
        _, bar, pos, rows = _grid_positions(piece, notes)
        for b, p, pitch in zip(bar, pos, notes[rows, 2].astype(int), strict=True):
            bars[b].add((int(p), int(pitch)))
    return [frozenset(b) for b in bars]


def jaccard(a: frozenset, b: frozenset) -> float:
    """Shared / all elements of two sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def recurrence_of(bars: list[frozenset]) -> float:
    """Mean over non-empty bars with an earlier non-empty bar of the best Jaccard similarity
    to one of those (``nan`` when no bar has one)."""
    best = []
    seen: list[frozenset] = []
    for bar in bars:
        if not bar:
            continue
        if seen:
            best.append(max(jaccard(bar, earlier) for earlier in seen))
        seen.append(bar)
    return float(np.mean(best)) if best else math.nan


def recurrence(piece: Piece) -> float:
    """How much the piece repeats itself, bar by bar (module doc)."""
    return recurrence_of(bar_onset_sets(piece))


def aligned_similarity(bars: list[frozenset], first: range, second: range) -> float:
    """Mean Jaccard similarity of bar ``first[k]`` and bar ``second[k]`` over the shorter
    range: how alike two passages are, bar for bar (a returning scene against its first)."""
    pairs = list(zip(first, second, strict=False))
    if not pairs:
        return math.nan
    return float(np.mean([jaccard(bars[a], bars[b]) for a, b in pairs]))


# --- all together -----------------------------------------------------------------------------

_FUNCTIONS: dict[str, Callable[[Piece], float]] = {
    "pitch_class_entropy": pitch_class_entropy,
    "pitch_entropy": pitch_entropy,
    "scale_consistency": scale_consistency,
    "grooving_similarity": grooving_similarity,
    "empty_beat_rate": empty_beat_rate,
    "mean_ioi": mean_ioi,
    "notes_per_bar": notes_per_bar,
    "polyphony": polyphony,
    "structureness": structureness,
    "recurrence": recurrence,
}
#: metric names, in the order :func:`music_metrics` reports them
METRICS: tuple[str, ...] = tuple(_FUNCTIONS)


def music_metrics(piece: Piece) -> dict[str, float]:
    """Every music metric of one piece.

    Args:
        piece: the piece to judge.

    Returns:
        ``{name: value}`` in :data:`METRICS` order; ``nan`` where a metric has nothing to measure.
    """
    return {name: float(_FUNCTIONS[name](piece)) for name in METRICS}


def mean_metrics(pieces: Iterable[Piece]) -> dict[str, float]:
    """Mean of every music metric over a set of pieces (a reference set).

    Args:
        pieces: the pieces.

    Returns:
        ``{name: mean}`` in :data:`METRICS` order; pieces where a metric is ``nan`` are left out
        of its mean, and a metric that is ``nan`` everywhere (or an empty set) gives ``nan``.
    """
    rows = [music_metrics(piece) for piece in pieces]
    means: dict[str, float] = {}
    for name in METRICS:
        values = np.array([row[name] for row in rows], dtype=float)
        values = values[~np.isnan(values)]
        means[name] = float(values.mean()) if len(values) else math.nan
    return means
