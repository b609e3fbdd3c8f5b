"""Music: the score model, the chord vocabulary, and the compound-word token representation.

Entry points: :class:`Score` (what stages read and write), :func:`encode_score` /
:func:`decode_score` (score <-> per-stage CP token arrays), :func:`stage_spec` (the vocabulary).
Music theory through music21 lives in :mod:`symbolic_v2m.music.theory` (imported on demand).
"""

from symbolic_v2m.music.chords import QUALITIES, chord_label, parse_chord_label
from symbolic_v2m.music.score import (
    TICKS_PER_BEAT,
    Bar,
    Chord,
    KeyChange,
    Note,
    Role,
    Score,
    TempoMap,
    TimeSignature,
)
from symbolic_v2m.music.tokens import (
    StageContext,
    TokenSequence,
    decode_part,
    decode_score,
    encode_part,
    encode_score,
    transpose_tokens,
)
from symbolic_v2m.music.vocab import METERS, Family, StageSpec, stage_spec

__all__ = [
    "METERS",
    "QUALITIES",
    "TICKS_PER_BEAT",
    "Bar",
    "Chord",
    "Family",
    "KeyChange",
    "Note",
    "Role",
    "Score",
    "StageContext",
    "StageSpec",
    "TempoMap",
    "TimeSignature",
    "TokenSequence",
    "chord_label",
    "decode_part",
    "decode_score",
    "encode_part",
    "encode_score",
    "parse_chord_label",
    "stage_spec",
    "transpose_tokens",
]
