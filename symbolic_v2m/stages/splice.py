"""Regenerating a span of bars: the prompt before it, and splicing the new part into the old.

The model sees the music before the span as a prompt (the old part's tokens up to the span's
first bar) and writes until the span's last bar; what follows the span reaches it through the
timeline's controls and, for later stages, the given chords. Outside the span every note stays
exactly as it was: :func:`splice_notes` keeps old notes that start outside ``[start, end)``
ticks and takes new ones that start inside; :func:`splice_chords` does the same for the chord
part and keeps it a tiling of the piece (a chord crossing a span edge is cut there).
"""

from __future__ import annotations

import numpy as np

from symbolic_v2m.music.score import Chord, Note, Role, Score, sort_notes
from symbolic_v2m.music.tokens import StageContext, encode_part


def prompt_before(
    score: Score,
    role: Role,
    start_bar: int,
    context: StageContext | None = None,
    from_bar: int = 0,
) -> np.ndarray:
    """The tokens of ``role``'s part in ``score`` before bar ``start_bar``: from ``bos``, or with
    ``from_bar`` > 0 from that bar's token (a prompt cut at a bar line,
    :func:`~symbolic_v2m.model.generate`'s ``prompt_bar``).

    ``context`` fills the prompt's context columns (default: the score's own). Generation
    refills them from its own context, so a stage writing in segments passes the one it already
    has instead of building the score's anew for every segment."""
    sequence = encode_part(score, role, context or StageContext.from_score(score))
    spec = sequence.spec
    bars = np.flatnonzero(sequence.tokens[:, 0] == spec.type_index("bar"))
    cut = int(bars[start_bar]) if start_bar < len(bars) else len(sequence.tokens) - 1
    return sequence.tokens[int(bars[from_bar]) if from_bar else 0 : cut]


def splice_notes(
    old: tuple[Note, ...], new: tuple[Note, ...], start: int, end: int
) -> tuple[Note, ...]:
    """Old notes starting outside [start, end) ticks + new notes starting inside it."""
    kept = [n for n in old if not start <= n.onset < end]
    added = [n for n in new if start <= n.onset < end]
    return sort_notes(kept + added)


def splice_chords(
    old: tuple[Chord, ...], new: tuple[Chord, ...], start: int, end: int, length: int
) -> tuple[Chord, ...]:
    """The chord part with [start, end) ticks taken from ``new`` (see the module doc)."""

    def clip(chords: tuple[Chord, ...], a: int, b: int) -> list[Chord]:
        out = []
        for c in chords:
            lo, hi = max(c.onset, a), min(c.offset, b)
            if hi > lo:
                out.append(Chord(lo, hi - lo, c.root, c.quality, c.bass))
        return out

    return tuple(clip(old, 0, start) + clip(new, start, end) + clip(old, end, length))
