"""Music theory for constraints, through music21: keys, scales, chord symbols, Roman numerals.

The regeneration features (``--key``, ``--progression``, ``--scale-lock``) call these. music21
does the theory; this module only turns what users type into music21 objects and music21's
answers into our plain values (pitch classes, :class:`~symbolic_v2m.music.score.Chord` fields).
Importing music21 takes about half a second, so nothing on the hot paths imports this module.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from music21 import harmony, key, roman

from symbolic_v2m.music.chords import chord_pitch_classes, nearest_quality
from symbolic_v2m.music.score import PITCH_CLASS_NAMES, KeyChange

_KEY = re.compile(
    r"^\s*(?P<tonic>[A-Ga-g])(?P<accidental>[#b♯♭-]?)\s*:?\s*"
    r"(?P<mode>major|minor|maj|min|M|m)?\s*$"
)


@dataclass(frozen=True)
class Key:
    """A key as pitch class + mode, with its scale."""

    tonic: int
    mode: str  # "major" | "minor"

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"

    def scale(self) -> tuple[int, ...]:
        """The key's scale as pitch classes from the tonic up (natural minor for minor keys)."""
        return scale_pitch_classes(self)

    def at(self, onset: int) -> KeyChange:
        """This key as a score key change at ``onset``."""
        return KeyChange(onset, self.tonic, self.mode)


def parse_key(text: str) -> Key:
    """``"D minor"``, ``"Dm"``, ``"F#"``, ``"Bb major"``, ``"c#"`` (lower case = minor, as in
    music21), ``"Gb:maj"`` (POP909) -> :class:`Key`. Raises ``ValueError`` naming the text."""
    match = _KEY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a key (e.g. 'D minor', 'Dm', 'F#', 'Bb major')")
    letter, accidental, mode = match.group("tonic", "accidental", "mode")
    if mode is None:
        minor = letter.islower()
    else:
        minor = mode in ("minor", "min", "m")
    accidental = {"♯": "#", "♭": "-", "b": "-"}.get(accidental, accidental)
    k = key.Key(letter.upper() + accidental, "minor" if minor else "major")
    return Key(k.tonic.pitchClass, k.mode)


# music21 builds the key anew at each call (about 12 ms), and choosing among candidates asks for
# the scale once per candidate per segment: the 24 answers are kept
@functools.cache
def scale_pitch_classes(k: Key) -> tuple[int, ...]:
    """The seven pitch classes of ``k``'s scale (music21's major / natural minor)."""
    m21 = key.Key(PITCH_CLASS_NAMES[k.tonic].replace("b", "-"), k.mode)
    return tuple(p.pitchClass for p in m21.pitches[:7])


def strict_pitch_classes(k: Key) -> frozenset[int]:
    """The pitch classes ``--scale-lock strict`` allows in ``k``: the major scale for a major
    key; for a minor key the natural minor scale plus the raised seventh (the leading tone of
    harmonic minor), so that the dominant V and the leading-tone chord vii° exist.

    This is the one definition of the strict set; every part (chords, melody, accompaniment and
    the bass and pad derived from the chords) is held to it.

    >>> sorted(strict_pitch_classes(Key(4, "minor")))  # E minor: E F# G A B C D, and D#
    [0, 2, 3, 4, 6, 7, 9, 11]
    """
    pitch_classes = set(scale_pitch_classes(k))
    if k.mode == "minor":
        m21 = key.Key(PITCH_CLASS_NAMES[k.tonic].replace("b", "-"), k.mode)
        pitch_classes.add(m21.getLeadingTone().pitchClass)  # the raised 7th, a semitone below
    return frozenset(pitch_classes)


_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_PLAIN_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")  # music21's


def pitch_class_name(pc: int, k: Key) -> str:
    """A pitch class spelt for messages about ``k``: with sharps in a sharp key, flats in a
    flat key, and music21's default spellings (C#, Eb, F#, G#, Bb) in C major / A minor."""
    sharps = key.Key(PITCH_CLASS_NAMES[k.tonic].replace("b", "-"), k.mode).sharps
    names = _SHARP_NAMES if sharps > 0 else _FLAT_NAMES if sharps < 0 else _PLAIN_NAMES
    return names[pc % 12]


def spelled_key_name(tonic: int, mode: str) -> str:
    """A key's name as a musician writes it: the tonic spelt the way whose key signature needs
    fewer accidentals, as music21 counts them (``F# minor``, not ``Gb minor``; ``Db major``, not
    ``C# major``); at six either way, flats (``Gb major``, ``Eb minor``)."""
    spellings = {_SHARP_NAMES[tonic % 12], _FLAT_NAMES[tonic % 12]}

    def accidentals(name: str) -> tuple[int, bool]:
        sharps = key.Key(name.replace("b", "-"), mode).sharps
        return abs(sharps), sharps > 0

    return f"{min(sorted(spellings), key=accidentals)} {mode}"


def _from_m21_chord(root: int, bass: int, pitch_classes: set[int]) -> tuple[int, str, int]:
    quality = nearest_quality({(pc - root) % 12 for pc in pitch_classes})
    return root, quality, bass


def parse_chord_symbol(text: str) -> tuple[int, str, int]:
    """A chord symbol as musicians write it (``"Am7"``, ``"F/A"``, ``"Bb"``, ``"Gsus4"``) ->
    ``(root, quality, bass)`` in our vocabulary (nearest class for extended chords)."""
    symbol = text.strip()
    # music21 writes flats as '-' but reads 'b' after the root letter as a flat too, except in
    # slash basses; normalise both.
    m21_text = re.sub(r"(?<=[A-G])b", "-", symbol)
    try:
        cs = harmony.ChordSymbol(m21_text)
        root = cs.root().pitchClass
        bass = cs.bass().pitchClass
        pcs = {p.pitchClass for p in cs.pitches}
    except Exception as exc:  # music21 raises many types for bad symbols
        raise ValueError(f"{text!r} is not a chord symbol") from exc
    if not pcs:
        raise ValueError(f"{text!r} is not a chord symbol")
    return _from_m21_chord(root, bass, pcs)


def parse_roman(numeral: str, k: Key) -> tuple[int, str, int]:
    """A Roman numeral in ``k`` (``"ii7"``, ``"V65"``, ``"bVII"``, ``"V/V"``) -> ``(root,
    quality, bass)``, with music21's reading of figures and inversions."""
    m21_key = key.Key(PITCH_CLASS_NAMES[k.tonic].replace("b", "-"), k.mode)
    try:
        rn = roman.RomanNumeral(numeral.strip(), m21_key)
        root = rn.root().pitchClass
        bass = rn.bass().pitchClass
        pcs = {p.pitchClass for p in rn.pitches}
    except Exception as exc:
        raise ValueError(f"{numeral!r} is not a Roman numeral") from exc
    return _from_m21_chord(root, bass, pcs)


def parse_progression(text: str, k: Key) -> list[tuple[int, str, int]]:
    """Space-separated Roman numerals (``"i VI III VII"``) or chord symbols (``"Am F C G"``).

    A token is read as a Roman numeral when it starts with one of ``IViv`` (after an optional
    accidental), else as a chord symbol.
    """
    chords = []
    for token in text.split():
        if re.match(r"^[b#]?[IViv]", token):
            chords.append(parse_roman(token, k))
        else:
            chords.append(parse_chord_symbol(token))
    if not chords:
        raise ValueError("empty chord progression")
    return chords


def chord_tones(root: int | None, quality: str, bass: int | None = None) -> frozenset[int]:
    """Pitch classes of a chord (re-exported for callers that think in theory terms)."""
    return chord_pitch_classes(root, quality, bass)


def in_scale(pitch: int, k: Key) -> bool:
    """Whether a MIDI pitch belongs to ``k``'s scale."""
    return pitch % 12 in scale_pitch_classes(k)
