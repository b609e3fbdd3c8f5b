"""Chord labels, the vocabulary's nearest-class mapping, keys and progressions (music21)."""

from __future__ import annotations

import pytest

from symbolic_v2m.music.chords import (
    QUALITIES,
    chord_label,
    chord_pitch_classes,
    nearest_quality,
    parse_chord_label,
)
from symbolic_v2m.music.score import TempoMap, TimeSignature
from symbolic_v2m.music.theory import (
    Key,
    parse_chord_symbol,
    parse_key,
    parse_progression,
    parse_roman,
)


@pytest.mark.parametrize(
    "label, expected",
    [
        ("C:maj", (0, "maj", 0)),
        ("A:min7", (9, "min7", 9)),
        ("F:maj/3", (5, "maj", 9)),
        ("Db:min/b3", (1, "min", 4)),
        ("G:sus4(b7)", (7, "sus4(b7)", 7)),
        ("Bb:7/b7", (10, "7", 8)),
        ("E:hdim7", (4, "hdim7", 4)),
        ("N", (None, "N", None)),
        # rare / foreign qualities -> nearest class by pitch-class set
        ("C:minmaj7", (0, "min", 0)),
        ("D:9", (2, "7", 2)),
        ("D:min9", (2, "min7", 2)),
        ("F:maj(9)", (5, "maj", 5)),
        ("G", (7, "maj", 7)),
    ],
)
def test_harte_labels_parse_into_the_vocabulary(label: str, expected: tuple) -> None:
    assert parse_chord_label(label) == expected
    assert expected[1] in QUALITIES


def test_labels_round_trip_for_every_vocabulary_chord() -> None:
    for quality in QUALITIES:
        for root in range(12):
            for bass_step in (0, 4, 7, 10):
                if quality == "N":
                    assert parse_chord_label(chord_label(None, "N")) == (None, "N", None)
                    continue
                bass = (root + bass_step) % 12
                assert parse_chord_label(chord_label(root, quality, bass)) == (root, quality, bass)


@pytest.mark.parametrize("bad", ["H:maj", "C:wobble", "C:maj/x", "C::"])
def test_bad_labels_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_chord_label(bad)


def test_nearest_quality_prefers_exact_sets() -> None:
    assert nearest_quality((0, 4, 7)) == "maj"
    assert nearest_quality((0, 3, 6, 9)) == "dim7"
    assert chord_pitch_classes(9, "min7") == {9, 0, 4, 7}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("D minor", Key(2, "minor")),
        ("Dm", Key(2, "minor")),
        ("F#", Key(6, "major")),
        ("Bb major", Key(10, "major")),
        ("c#", Key(1, "minor")),
        ("Gb:maj", Key(6, "major")),
        ("Eb min", Key(3, "minor")),
    ],
)
def test_keys_parse(text: str, expected: Key) -> None:
    assert parse_key(text) == expected


@pytest.mark.parametrize("bad", ["H major", "D dorian", "", "12"])
def test_bad_keys_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_key(bad)


def test_scales() -> None:
    assert Key(0, "major").scale() == (0, 2, 4, 5, 7, 9, 11)
    assert Key(9, "minor").scale() == (9, 11, 0, 2, 4, 5, 7)


def test_chord_symbols_and_roman_numerals() -> None:
    assert parse_chord_symbol("Am7") == (9, "min7", 9)
    assert parse_chord_symbol("F/A") == (5, "maj", 9)
    assert parse_chord_symbol("Bb") == (10, "maj", 10)
    a_minor = Key(9, "minor")
    assert [c[:2] for c in parse_progression("i VI III VII", a_minor)] == [
        (9, "min"),
        (5, "maj"),
        (0, "maj"),
        (7, "maj"),
    ]
    c_major = Key(0, "major")
    assert parse_roman("V7", c_major) == (7, "7", 7)
    assert parse_roman("I6", c_major) == (0, "maj", 4)  # first inversion: E in the bass
    assert parse_progression("Am F C G", c_major)[1] == (5, "maj", 5)
    with pytest.raises(ValueError):
        parse_chord_symbol("Qx7")


def test_tempo_map_is_piecewise_linear_and_invertible() -> None:
    tempo = TempoMap(((0, 0.5), (4, 1.0), (8, 1.25)))  # 120 then 240 qpm
    assert tempo.seconds(2) == pytest.approx(0.75)
    assert tempo.seconds(10) == pytest.approx(1.375)  # last tempo continues
    assert tempo.tick(1.125) == pytest.approx(6)
    assert tempo.tempo_changes() == [(0, pytest.approx(120)), (4, pytest.approx(240))]
    with pytest.raises(ValueError):
        TempoMap(((0, 0.0), (4, 0.0)))


def test_time_signatures() -> None:
    assert TimeSignature(3, 4).ticks() == 12
    assert TimeSignature(6, 8).ticks() == 12
    assert TimeSignature(7, 16).ticks(8) == 14 and TimeSignature(5, 8).ticks(2) == 5
    with pytest.raises(ValueError, match="does not fit"):
        TimeSignature(7, 16).ticks(2)  # 3.5 ticks
    assert TimeSignature.parse("2/4") == TimeSignature(2, 4)
    with pytest.raises(ValueError):
        TimeSignature.parse("four")
