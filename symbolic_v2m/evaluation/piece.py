"""What the metrics read: notes in seconds, and the beats and downbeats they are judged against.

    >>> piece = read_piece(Path("clip.mid"))              # doctest: +SKIP
    >>> piece.n_bars, piece.tracks                        # doctest: +SKIP
    (24, ('Melody', 'Accompaniment', 'Bass'))

Every metric works on a :class:`Piece`, so one code path judges any system's MIDI (read with the
file's *own* tempo map and time signatures, never our internal state) and the reference songs
(POP909 scores, placed on their annotated beat grid by :func:`piece_from_score`, because the
POP909 files' own tempo maps are not to be trusted).

Shapes: N notes. ``notes`` columns are :data:`COLUMNS`; drum-channel notes are kept (video-fit
metrics may use them) but flagged, and the music metrics leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic_v2m.music.midi_in import read_midi
from symbolic_v2m.music.score import Score

#: columns of :attr:`Piece.notes`
COLUMNS = ("start", "end", "pitch", "velocity", "track", "drum")


@dataclass(frozen=True, eq=False)
class Piece:
    """Notes in seconds with the beat grid they were written on.

    Attributes:
        notes: (N, 6) float array, columns :data:`COLUMNS`, sorted by start then pitch;
            ``track`` indexes :attr:`tracks`, ``drum`` is 1.0 for channel-10 notes.
        tracks: track names, in file order.
        beats: (B,) beat times in seconds (a beat is the time signature's denominator note).
        downbeats: (M,) bar-start times in seconds; ``downbeats[0]`` is the first bar's start.
        end: the piece's end in seconds (the end of its last bar or note, whichever is later).
    """

    notes: np.ndarray
    tracks: tuple[str, ...]
    beats: np.ndarray
    downbeats: np.ndarray
    end: float

    @property
    def n_bars(self) -> int:
        return len(self.downbeats)

    def pitched(self, track: str | None = None) -> np.ndarray:
        """Non-drum notes, of one track (by name, case-insensitive) or of all."""
        notes = self.notes[self.notes[:, 5] == 0]
        if track is None:
            return notes
        index = [i for i, name in enumerate(self.tracks) if name.lower() == track.lower()]
        return notes[np.isin(notes[:, 4], index)]

    def bar_edges(self) -> np.ndarray:
        """(M + 1,) bar boundaries in seconds: the downbeats and the piece's end."""
        return np.append(self.downbeats, max(self.end, self.downbeats[-1] + 1e-6))


def _sorted_notes(rows: list[tuple[float, ...]]) -> np.ndarray:
    notes = np.array(rows, dtype=float).reshape(-1, len(COLUMNS))
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))] if len(notes) else notes


def read_piece(path: Path) -> Piece:
    """A MIDI file as a :class:`Piece`, on the file's own tempo map and time signatures.

    The file goes through :func:`symbolic_v2m.music.midi_in.read_midi`, which refuses corrupt
    and absurd files and handles the odd but valid ones (see its module doc). A file without
    notes gives a piece without notes: its music metrics are undefined (NaN), not an error, so
    that a reference folder or a comparison can still show it.

    Raises:
        InputError: the file is missing or not a MIDI file we can read; the message names the
            file and the problem.
    """
    path = Path(path)
    midi = read_midi(path)
    pm = midi.midi
    rows = [
        (n.start, n.end, n.pitch, n.velocity, i, float(inst.is_drum))
        for i, inst in enumerate(pm.instruments)
        for n in inst.notes
        if n.end > n.start
    ]
    notes = _sorted_notes(rows)
    # pretty_midi's end stops at the last note; our files end at the last bar line
    end = max(pm.get_end_time(), midi.end)
    beats = np.asarray(pm.get_beats(), dtype=float)
    downbeats = np.asarray(pm.get_downbeats(), dtype=float)
    beats, downbeats = beats[beats < end - 1e-6], downbeats[downbeats < end - 1e-6]
    if len(downbeats) == 0:
        downbeats = np.array([0.0])
    names = tuple(inst.name or f"Track {i + 1}" for i, inst in enumerate(pm.instruments))
    return Piece(notes, names, beats, downbeats, float(end))


def piece_from_score(score: Score) -> Piece:
    """A score as a :class:`Piece`: melody and accompaniment notes placed by its tempo map,
    beats every quarter note and downbeats at its bar lines (the reference songs' grid)."""
    rows = [
        (score.seconds(n.onset), score.seconds(n.offset), n.pitch, n.velocity, track, 0.0)
        for track, part in enumerate((score.melody, score.accompaniment))
        for n in part
    ]
    tpb = score.ticks_per_beat
    beats = np.array([score.seconds(t) for t in range(0, score.length, tpb)])
    downbeats = np.array([score.seconds(bar.start) for bar in score.bars()])
    return Piece(
        _sorted_notes(rows),
        ("Melody", "Accompaniment"),
        beats,
        downbeats,
        float(score.seconds(score.length)),
    )
