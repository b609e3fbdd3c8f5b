"""The chord vocabulary: qualities as pitch-class sets, Harte labels in and out.

The vocabulary is every chord quality in POP909's annotations with at least 50 occurrences in the
corpus (counted over all 909 songs; ``maj`` 55,581 down to ``min6`` 58 and ``dim7`` 56), plus
``N`` for no chord. Anything else (POP909's 36 ``minmaj7``; ``9``, ``min9``, ``maj(9)``, ...
from other corpora) maps to the **nearest class**: the quality whose pitch-class set, on the same
root, has the highest Jaccard similarity with the label's set; ties go to the more common
quality. So ``minmaj7`` -> ``min``, ``9`` -> ``7``, ``min9`` -> ``min7``, ``maj9`` -> ``maj7``.

Labels follow Harte et al. (ISMIR 2005), as POP909 writes them: ``root:quality(extra
degrees)/bass degree``, e.g. ``A:min7``, ``F:maj/3``, ``G:sus4(b7)``.

Why our own parser and not music21's ``ChordSymbol``: music21 reads jazz symbols ("Am7", "F/A"),
not Harte's colon and degree syntax, and it is about 1,000 times slower, which matters when the
data pipeline parses 125,000 labels. :mod:`symbolic_v2m.music.theory` uses music21 for the
symbols users type.
"""

from __future__ import annotations

import re

NO_CHORD = "N"

#: Quality -> intervals above the root (semitones). Order = POP909 frequency: ties in the nearest-
#: class mapping go to the earlier entry.
QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "sus2": (0, 2, 7),
    "min7": (0, 3, 7, 10),
    "sus4": (0, 5, 7),
    "maj7": (0, 4, 7, 11),
    "sus4(b7)": (0, 5, 7, 10),
    "7": (0, 4, 7, 10),
    "maj6": (0, 4, 7, 9),
    "dim": (0, 3, 6),
    "hdim7": (0, 3, 6, 10),
    "aug": (0, 4, 8),
    "min6": (0, 3, 7, 9),
    "dim7": (0, 3, 6, 9),
}

#: The chord-quality vocabulary, ``N`` included.
QUALITIES: tuple[str, ...] = (*QUALITY_INTERVALS, NO_CHORD)

# Harte shorthands outside the vocabulary, as interval sets, so they can be mapped to the nearest.
_EXTRA_SHORTHANDS: dict[str, tuple[int, ...]] = {
    "minmaj7": (0, 3, 7, 11),
    "9": (0, 4, 7, 10, 2),
    "maj9": (0, 4, 7, 11, 2),
    "min9": (0, 3, 7, 10, 2),
    "11": (0, 4, 7, 10, 2, 5),
    "min11": (0, 3, 7, 10, 2, 5),
    "13": (0, 4, 7, 10, 2, 9),
    "maj13": (0, 4, 7, 11, 2, 9),
    "min13": (0, 3, 7, 10, 2, 9),
    "5": (0, 7),
    "1": (0,),
    "7sus4": (0, 5, 7, 10),
    "aug7": (0, 4, 8, 10),
}

_NOTE_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEGREE_SEMITONES = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11, 9: 2, 11: 5, 13: 9}
_SEMITONE_DEGREE = ("1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7")
_ROOT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_LABEL = re.compile(r"^(?P<root>[A-G][#b]*)(?::(?P<quality>[^/]*))?(?:/(?P<bass>[#b]*\d+))?$")


def parse_pitch_class(name: str) -> int:
    """``"Db"`` -> 1, ``"F#"`` -> 6, ``"Cb"`` -> 11."""
    if not name or name[0] not in _NOTE_PC or any(c not in "#b" for c in name[1:]):
        raise ValueError(f"{name!r} is not a note name")
    return (_NOTE_PC[name[0]] + name.count("#") - name.count("b")) % 12


def degree_semitones(degree: str) -> int:
    """Harte degree (``"b3"``, ``"5"``, ``"#4"``) -> semitones above the root, 0..11."""
    match = re.fullmatch(r"([#b]*)(\d+)", degree)
    if not match or int(match.group(2)) not in _DEGREE_SEMITONES:
        raise ValueError(f"{degree!r} is not a chord degree")
    accidentals, number = match.groups()
    shift = accidentals.count("#") - accidentals.count("b")
    return (_DEGREE_SEMITONES[int(number)] + shift) % 12


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b)


def nearest_quality(intervals: frozenset[int] | set[int] | tuple[int, ...]) -> str:
    """The vocabulary quality whose interval set is most like ``intervals`` (see module doc)."""
    target = frozenset(i % 12 for i in intervals) | {0}
    best, best_score = "maj", -1.0
    for quality, members in QUALITY_INTERVALS.items():
        score = _jaccard(target, frozenset(members))
        if score > best_score:
            best, best_score = quality, score
    return best


def quality_intervals(quality: str) -> tuple[int, ...]:
    """Intervals of a Harte quality, with parenthesised extra degrees (``maj(9)``, ``7(*5)``)."""
    match = re.fullmatch(r"([^()]*)(?:\((.*)\))?", quality)
    if match is None:
        raise ValueError(f"{quality!r} is not a chord quality")
    short, extras = match.group(1) or "maj", match.group(2)
    if quality in QUALITY_INTERVALS:
        return QUALITY_INTERVALS[quality]
    if short in QUALITY_INTERVALS:
        members = set(QUALITY_INTERVALS[short])
    elif short in _EXTRA_SHORTHANDS:
        members = set(_EXTRA_SHORTHANDS[short])
    else:
        raise ValueError(f"unknown chord quality {short!r}")
    for item in (extras or "").split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("*"):
            members.discard(degree_semitones(item[1:]))
        else:
            members.add(degree_semitones(item))
    return tuple(sorted(members))


def parse_chord_label(label: str) -> tuple[int | None, str, int | None]:
    """Harte label -> ``(root pc, vocabulary quality, bass pc)``; ``"N"`` -> ``(None, "N", None)``.

    Qualities outside the vocabulary map to the nearest one (module doc). Raises ``ValueError``
    for text that is not a chord label.
    """
    label = label.strip()
    if label in (NO_CHORD, "X", ""):
        return None, NO_CHORD, None
    match = _LABEL.match(label)
    if match is None:
        raise ValueError(f"{label!r} is not a chord label")
    root = parse_pitch_class(match.group("root"))
    raw = match.group("quality") or "maj"
    quality = raw if raw in QUALITY_INTERVALS else nearest_quality(quality_intervals(raw))
    bass_degree = match.group("bass")
    bass = root if bass_degree is None else (root + degree_semitones(bass_degree)) % 12
    return root, quality, bass


def chord_label(root: int | None, quality: str, bass: int | None = None) -> str:
    """``(9, "min7", 9)`` -> ``"A:min7"``; ``(5, "maj", 9)`` -> ``"F:maj/3"``."""
    if quality == NO_CHORD or root is None:
        return NO_CHORD
    label = f"{_ROOT_NAMES[root]}:{quality}"
    if bass is not None and bass != root:
        label += "/" + _SEMITONE_DEGREE[(bass - root) % 12]
    return label


def chord_pitch_classes(root: int | None, quality: str, bass: int | None = None) -> frozenset[int]:
    """The pitch classes of a chord (its bass included); empty for no chord."""
    if quality == NO_CHORD or root is None:
        return frozenset()
    members = {(root + i) % 12 for i in QUALITY_INTERVALS[quality]}
    if bass is not None:
        members.add(bass)
    return frozenset(members)
