"""Phrase boundaries found in a melody, for corpora without structure annotations.

At composition time the video's sections are the phrase boundaries; in training data something
must play their part so that the models learn what happens at one (a cadence in the chords, a
breath in the melody). POP909 as shipped here has no structure labels, so we use the simplest
robust cue: a melody rest of at least one beat. The phrase that follows starts at the downbeat
nearest its first note (so a pickup counts with the bar it leads into), and phrases shorter than
two bars are merged into the one before.
"""

from __future__ import annotations

import numpy as np

from symbolic_v2m.music.score import Note

MIN_REST_BEATS = 1
MIN_PHRASE_BARS = 2


def melody_phrase_starts(
    melody: list[Note] | tuple[Note, ...],
    bar_starts: np.ndarray,
    ticks_per_beat: int = 4,
) -> tuple[int, ...]:
    """Indices of bars (> 0) that start a phrase, from rests in ``melody``.

    ``bar_starts`` is ``(n_bars + 1,)``: each bar's first tick and the end of the piece.
    """
    notes = sorted(melody, key=lambda n: n.onset)
    n_bars = len(bar_starts) - 1
    starts: list[int] = []
    sounding_until = None
    for note in notes:
        if sounding_until is not None and note.onset - sounding_until >= MIN_REST_BEATS * (
            ticks_per_beat
        ):
            nearest = int(np.argmin(np.abs(bar_starts[:-1] - note.onset)))
            if 0 < nearest < n_bars and (not starts or nearest - starts[-1] >= MIN_PHRASE_BARS):
                if nearest >= MIN_PHRASE_BARS:
                    starts.append(nearest)
        end = note.onset + note.duration
        sounding_until = end if sounding_until is None else max(sounding_until, end)
    return tuple(starts)
