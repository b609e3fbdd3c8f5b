"""The parts the arrangement derives from the chords: which chord tones the pad holds."""

from __future__ import annotations

from symbolic_v2m.arrangement import derive_pad
from symbolic_v2m.music.score import Chord, KeyChange, Note, Score, TempoMap, TimeSignature

A, C, C_SHARP, E, F, G_SHARP = 9, 0, 1, 4, 5, 8
BAR = 16  # ticks of a 4/4 bar
A_MINOR = (KeyChange(0, A, "minor"),)


def _score(
    chords: list[Chord], accompaniment: list[Note], keys: tuple[KeyChange, ...] = A_MINOR
) -> Score:
    return Score(
        (TimeSignature(),) * len(chords),
        TempoMap(((0, 0.0), (4, 0.5))),
        keys=keys,
        chords=tuple(chords),
        accompaniment=tuple(accompaniment),
    ).normalised()


def _held(pad: tuple[Note, ...], bar: int) -> set[int]:
    return {n.pitch % 12 for n in pad if n.onset == bar * BAR}


def test_the_pad_holds_a_chromatic_tone_only_where_the_written_parts_sound_it() -> None:
    """In A minor: "A major" over written parts that play C (the key's) is held as A and E, not
    C# against the parts' C; the same chord where the accompaniment plays C# is held whole; E
    major (V) without the parts' G# loses it; a chord of the key is held whole, also when the
    written parts are silent in it."""
    chords = [
        Chord(0, BAR, A, "maj", A),
        Chord(BAR, BAR, A, "maj", A),
        Chord(2 * BAR, BAR, E, "maj", E),
        Chord(3 * BAR, BAR, F, "maj", F),
    ]
    accompaniment = [
        Note(0, 4, 57, 70),  # A3
        Note(4, 4, 60, 70),  # C4: the key's third, not the chord's
        Note(BAR + 8, 4, 61, 70),  # C#4 within bar 1
        Note(2 * BAR, 8, 64, 70),  # E4, and B: no G#
        Note(2 * BAR + 8, 8, 59, 70),
    ]
    pad = derive_pad(_score(chords, accompaniment))
    assert _held(pad, 0) == {A, E}
    assert _held(pad, 1) == {A, C_SHARP, E}
    assert _held(pad, 2) == {E, 11}
    assert _held(pad, 3) == {F, A, C}


def test_a_note_held_into_the_chord_counts_as_sounding_in_it() -> None:
    chords = [Chord(0, BAR, A, "min", A), Chord(BAR, BAR, E, "maj", E)]
    held_over = [Note(BAR - 4, 8, 56, 70)]  # G#3 from beat 4 of bar 0 into bar 1
    assert G_SHARP in _held(derive_pad(_score(chords, held_over)), 1)
    ended = [Note(BAR - 4, 4, 56, 70)]  # the same note, ending at the bar line
    assert G_SHARP not in _held(derive_pad(_score(chords, ended)), 1)


def test_without_a_key_every_chord_tone_is_held() -> None:
    pad = derive_pad(_score([Chord(0, BAR, A, "maj", A)], [], keys=()))
    assert _held(pad, 0) == {A, C_SHARP, E}


def test_a_key_change_judges_each_chord_in_its_own_key() -> None:
    """C# is the key's in A major (from bar 1), so there the pad holds it without the parts."""
    chords = [Chord(0, BAR, A, "maj", A), Chord(BAR, BAR, A, "maj", A)]
    keys = (KeyChange(0, A, "minor"), KeyChange(BAR, A, "major"))
    pad = derive_pad(_score(chords, [], keys=keys))
    assert _held(pad, 0) == {A, E}
    assert _held(pad, 1) == {A, C_SHARP, E}
