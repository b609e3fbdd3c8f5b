"""The corpus-adapter interface: what the data pipeline needs from a collection of songs.

POP909 is the first adapter (:class:`symbolic_v2m.data.pop909.Pop909`). A second corpus (a folder
of multi-track MIDI, Lakh MIDI, SymMV) plugs in by implementing :class:`Corpus`: list its song
ids, and turn one id into a quantised :class:`~symbolic_v2m.music.score.Score` with its
quantisation figures. Token caches, splits, statistics and training never look inside a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from symbolic_v2m.data.grid import QuantisationStats
from symbolic_v2m.music.score import Score


@dataclass(frozen=True)
class Song:
    """One song of a corpus, quantised, with how far quantisation moved its notes."""

    song_id: str
    score: Score
    quantisation: QuantisationStats
    notes: str = ""  # anything the adapter wants the report to say about this song


@runtime_checkable
class Corpus(Protocol):
    """A collection of songs the data pipeline can prepare."""

    name: str

    def song_ids(self) -> list[str]:
        """Every song id, sorted."""
        ...

    def load(self, song_id: str) -> Song:
        """One song; raises :class:`~symbolic_v2m.errors.DataError` naming the bad file."""
        ...

    def fingerprint(self) -> str:
        """A string that changes when the adapter's reading or quantisation changes."""
        ...
