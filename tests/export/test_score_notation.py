"""The MusicXML as a musician reads it: accidentals, staves, voices, values, names, markers.

Every figure is measured on the written file (and on MuseScore 3's re-save of it) with
ElementTree, the way a reader meets the page: which accidentals print, on which staff and clef
each note sits, which notes are tied. The pieces are built here: a synthetic arrangement shaped
like ``compose``'s output (a melody that overlaps itself and doubles a note, a piano part from
C2 to G5 with a held bass under arpeggios, a derived bass and pad, chromatic chords such as a
secondary dominant), in several keys and with a key change.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symbolic_v2m.arrangement import Arrangement, Marker, Track, arrange
from symbolic_v2m.export import write_midi, write_musicxml
from symbolic_v2m.export.musicxml import Speller, arrangement_to_music21, note_values
from symbolic_v2m.music.chords import QUALITY_INTERVALS
from symbolic_v2m.music.score import Chord, KeyChange, Note, Score, TempoMap, TimeSignature

# -- the pieces ---------------------------------------------------------------------------------

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
# a bar each, relative to the tonic; both include chords from outside the key
PROGRESSIONS = {
    "major": ((0, "maj"), (9, "min"), (5, "maj"), (7, "7"), (0, "maj"), (4, "maj"), (9, "min"),
              (2, "7"), (7, "maj"), (10, "maj"), (5, "min"), (7, "sus4")),
    "minor": ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj"), (0, "min"), (5, "min"), (7, "7"),
              (0, "min"), (2, "hdim7"), (7, "maj"), (8, "maj"), (11, "dim7")),
}  # fmt: skip
# 13 bars of 4/4, one of 3/4, two of 4/4
METERS = (TimeSignature(4, 4),) * 13 + (TimeSignature(3, 4),) + (TimeSignature(4, 4),) * 2
BAR_STARTS = [sum(m.ticks() for m in METERS[:i]) for i in range(len(METERS) + 1)]
CUTS = ((BAR_STARTS[4] + 4, "Cut 1 — 00:02.50"), (BAR_STARTS[8], "Cut 2 — 00:05.00"))
SECTIONS = ((0, "Section 1"), (BAR_STARTS[8], "Section 2"))

KEYS = {
    "C major": ((0, "major"),),
    "E major": ((4, "major"),),  # four sharps
    "Ab major": ((8, "major"),),  # four flats
    "C minor": ((0, "minor"),),
    "F# minor, then D major": ((6, "minor"), (2, "major")),  # a key change at bar 9
}


def _piece(keys: tuple[tuple[int, str], ...], seed: int = 0) -> Arrangement:
    """A cinematic arrangement (melody, piano, derived bass and pad, percussion) in ``keys``."""
    rng = random.Random(seed)
    changes = [KeyChange(0, *keys[0])] + [KeyChange(BAR_STARTS[8], *k) for k in keys[1:]]
    chords, melody, piano = [], [], []
    previous = 72
    for bar, meter in enumerate(METERS):
        k = changes[-1] if bar >= 8 else changes[0]
        scale = {(k.tonic + s) % 12 for s in (MAJOR if k.mode == "major" else MINOR)}
        relative, quality = PROGRESSIONS[k.mode][bar % 12]
        root = (k.tonic + relative) % 12
        start, length = BAR_STARTS[bar], meter.ticks()
        chords.append(Chord(start, length, root, quality, root))
        tones = [(root + i) % 12 for i in QUALITY_INTERVALS[quality]]
        # piano: the root held low (C2-B2) under arpeggio 8ths (C3-B4 or C4-B5), some ringing a
        # 16th into the next; every fourth bar also a held chord around middle C
        piano.append(Note(start, length, 36 + root, 70))
        octaves = (0, 1) if bar % 2 else (1, 2)
        arpeggio = sorted(48 + t + 12 * o for t in tones for o in octaves)
        for i, tick in enumerate(range(start, start + length, 2)):
            piano.append(Note(tick, 3 if i % 4 == 3 else 2, arpeggio[i % len(arpeggio)], 60))
        if bar % 4 == 3:
            piano.extend(Note(start, length, 60 + t, 55) for t in tones)
        # melody: chord tones on beats, scale steps between, a chromatic note now and then;
        # some notes ring into the next (an overlapping line) and a few are doubled
        tick = start
        while tick < start + length:
            step = min(rng.choice((2, 2, 4, 4, 6, 1, 3, 8)), start + length - tick)
            pool = tones if (tick - start) % 4 == 0 else scale
            if rng.random() < 0.12:
                pool = set(range(12)) - scale
            pitch = min(
                (p for p in range(62, 86) if p % 12 in pool),
                key=lambda p: abs(p - previous) + rng.random() * 5,
            )
            ring = 2 if rng.random() < 0.15 else 0
            melody.append(Note(tick, min(step + ring, BAR_STARTS[-1] - tick), pitch, 90))
            if rng.random() < 0.05:
                melody.append(Note(tick, step, pitch - 12 if pitch > 72 else pitch - 5, 80))
            previous, tick = pitch, tick + step
    score = Score(
        METERS,
        TempoMap.constant(96),
        tuple(changes),
        tuple(chords),
        tuple(sorted(set(melody), key=lambda n: (n.onset, n.pitch))),
        tuple(sorted(set(piano), key=lambda n: (n.onset, n.pitch))),
        phrase_starts=(8,),
    )
    markers = tuple(Marker(t, text) for t, text in sorted(CUTS + SECTIONS))
    return arrange(
        score, "cinematic", markers=markers, section_ticks=(0, BAR_STARTS[8]), title="clip"
    )


# -- reading the written file -------------------------------------------------------------------

STEPS = "CDEFGAB"
STEP_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARPS = "FCGDAEB"
# diatonic number (octave * 7 + step) of a clef's bottom line, before its octave change
CLEF_BOTTOM = {("G", 2): 4 * 7 + 2, ("F", 4): 2 * 7 + 4, ("C", 3): 3 * 7 + 3}


def _signature(fifths: int) -> dict[str, int]:
    order = SHARPS if fifths > 0 else SHARPS[::-1]
    altered = dict.fromkeys(STEPS, 0)
    for step in order[: abs(fifths)]:
        altered[step] = 1 if fifths > 0 else -1
    return altered


@dataclass
class PartFigures:
    """What a reader sees of one part, counted from the XML."""

    name: str
    abbreviation: str | None
    instrument: str | None
    staves: int = 1
    clefs: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # staff -> first clef
    notes: int = 0  # written note heads (tied pieces included)
    redundant: int = 0  # accidentals the key signature and the bar already imply
    missing: int = 0  # alterations printed nowhere (a wrong score)
    beyond_four: int = 0  # notes more than four ledger lines off the staff
    attacks: Counter = field(default_factory=Counter)  # (tick, midi) of struck notes
    chords_in_voice_1: int = 0
    sixteenth_chains: int = 0  # runs of three or more 16ths tied together
    fifths_by_bar: dict[int, int] = field(default_factory=dict)
    words: list[tuple[int, str]] = field(default_factory=list)  # (bar, text)
    rehearsals: list[tuple[int, Fraction, str]] = field(default_factory=list)


def read_figures(path: Path, bar_starts: list[int] = BAR_STARTS) -> dict[str, PartFigures]:
    """Part name -> its figures, from a MusicXML file (ours or MuseScore's) of a piece whose
    bars start at ``bar_starts`` (ticks, 4 per quarter)."""
    root = ET.parse(path).getroot()
    names = {
        sp.get("id"): (
            sp.findtext("part-name"),
            sp.findtext("part-abbreviation"),
            sp.findtext("score-instrument/instrument-name"),
        )
        for sp in root.iter("score-part")
    }
    return {
        names[p.get("id")][0]: _read_part(p, *names[p.get("id")], bar_starts)
        for p in root.iter("part")
    }


def _read_part(
    part: ET.Element, name: str, abbreviation: str | None, inst: str | None, bar_starts: list[int]
) -> PartFigures:
    figures = PartFigures(name, abbreviation, inst)
    divisions, fifths = 1, 0
    clefs: dict[int, tuple[str, int, int]] = {}
    ended: dict[tuple[int, str, int], int] = {}  # alteration in force at the previous bar's end
    chains: dict[tuple[int, str, int], int] = {}  # tied 16ths running into the next note
    for bar, measure in enumerate(part.iter("measure")):
        now = last = Fraction(0)
        events = []
        for element in measure:
            if element.tag == "attributes":
                divisions = int(element.findtext("divisions") or divisions)
                figures.staves = int(element.findtext("staves") or figures.staves)
                if element.find("key/fifths") is not None:
                    fifths = int(element.findtext("key/fifths"))
                for c in element.findall("clef"):
                    sign, line = c.findtext("sign"), int(c.findtext("line") or 0)
                    staff = int(c.get("number", 1))
                    clefs[staff] = (sign, line, int(c.findtext("clef-octave-change") or 0))
                    figures.clefs.setdefault(staff, clefs[staff])
            elif element.tag in ("backup", "forward"):
                step = Fraction(int(element.findtext("duration")), divisions)
                now += -step if element.tag == "backup" else step
            elif element.tag == "direction":
                offset = now + Fraction(int(element.findtext("offset") or 0), divisions)
                for words in element.iter("words"):
                    figures.words.append((bar, (words.text or "").strip()))
                for mark in element.iter("rehearsal"):
                    figures.rehearsals.append((bar, offset, (mark.text or "").strip()))
            elif element.tag == "note":
                if element.find("chord") is not None:
                    onset = last
                else:
                    onset = last = now
                    if element.find("grace") is None:
                        now += Fraction(int(element.findtext("duration") or 0), divisions)
                if element.find("pitch") is not None:
                    events.append((onset, len(events), element))
        figures.fifths_by_bar[bar] = fifths
        signature = _signature(fifths)
        in_force: dict[tuple[int, str, int], int] = {}
        seen: dict[tuple[int, str], set[int]] = defaultdict(set)
        # a chord holding one step twice (Bb and B) prints both alterations, the one the key
        # signature gives included: cautionary, whichever of the two comes first in the file
        struck: dict[tuple[Fraction, int, str], set[int]] = defaultdict(set)
        for onset, _, element in events:
            struck[
                (onset, int(element.findtext("staff") or 1), element.findtext("pitch/step"))
            ].add(round(float(element.findtext("pitch/alter") or 0)))
        for onset, _, element in sorted(events, key=lambda e: e[:2]):
            step = element.findtext("pitch/step")
            octave = int(element.findtext("pitch/octave"))
            alter = round(float(element.findtext("pitch/alter") or 0))
            staff = int(element.findtext("staff") or 1)
            voice = element.findtext("voice") or "1"
            printed = element.find("accidental") is not None
            ties = {t.get("type") for t in element.findall("tie")}
            figures.notes += 1
            place = (staff, step, octave)
            # ledger lines on this note's staff
            sign, line, octave_change = clefs.get(staff, ("G", 2, 0))
            bottom = CLEF_BOTTOM[(sign, line)] + 7 * octave_change
            position = 7 * octave + STEPS.index(step)
            ledger = max(position - (bottom + 8), bottom - position, 0) // 2
            figures.beyond_four += ledger > 4
            if voice == "1" and element.find("chord") is not None:
                figures.chords_in_voice_1 += 1
            # tied 16th chains
            if element.findtext("type") == "16th" and ties:
                chains[place] = chains.get(place, 0) + 1 if "stop" in ties else 1
                if chains[place] == 3:
                    figures.sixteenth_chains += 1
            else:
                chains.pop(place, None)
            if "stop" not in ties:
                tick = bar_starts[bar] + round(onset * 4)
                figures.attacks[(tick, 12 * (octave + 1) + STEP_PC[step] + alter)] += 1
            # accidentals: engraving rules, per staff, step and octave
            if "stop" in ties and not printed:
                continue
            current = in_force.get(place, signature[step])
            if alter != current and not printed:
                figures.missing += 1
            elif printed and alter == current:
                courtesy = (
                    (place not in in_force and ended.get(place, current) != alter)
                    or seen[(staff, step)] - {alter}
                    or struck[(onset, staff, step)] - {alter}
                )
                figures.redundant += not courtesy
            in_force[place] = alter
            seen[(staff, step)].add(alter)
        ended = {p: a for p, a in in_force.items() if a != signature[p[1]]}
    return figures


def _percent(parts: dict[str, PartFigures], attribute: str) -> float:
    total = sum(p.notes for p in parts.values())
    return 100.0 * sum(getattr(p, attribute) for p in parts.values()) / total


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Arrangement, Path]]:
    """Key name -> (arrangement, our MusicXML of it)."""
    folder = tmp_path_factory.mktemp("notation")
    result = {}
    for index, (name, keys) in enumerate(KEYS.items()):
        arrangement = _piece(keys, seed=index)
        path = folder / f"piece{index}.musicxml"
        write_musicxml(arrangement, path)
        result[name] = (arrangement, path)
    return result


@pytest.fixture(scope="module")
def resaved(written, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Key name -> MuseScore 3's own MusicXML of our file (``mscore3 -o``)."""
    mscore = shutil.which("mscore3")
    if mscore is None:
        pytest.skip("mscore3 not on PATH (apt-get install musescore3)")
    folder = tmp_path_factory.mktemp("musescore")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = {}
    for index, (name, (_, path)) in enumerate(written.items()):
        out = folder / f"resaved{index}.musicxml"
        try:
            subprocess.run([mscore, "-o", str(out), str(path)], env=env, capture_output=True,
                           timeout=180, check=True)  # fmt: skip
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"MuseScore 3 could not convert the file here: {exc}")
        result[name] = out
    return result


# -- our file -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KEYS)
def test_accidentals_only_where_key_and_bar_need_them(written, name: str) -> None:
    arrangement, path = written[name]
    parts = read_figures(path)
    assert _percent(parts, "redundant") <= 1.0
    assert sum(p.missing for p in parts.values()) == 0  # and none left out
    # the key signature of each section, and its change
    fifths = {"C major": 0, "E major": 4, "Ab major": -4, "C minor": -3}
    expected = [fifths[name]] * 16 if name in fifths else [3] * 8 + [2] * 8
    assert all(list(p.fifths_by_bar.values()) == expected for p in parts.values())


@pytest.mark.parametrize("name", KEYS)
def test_notes_lie_within_four_ledger_lines(written, name: str) -> None:
    parts = read_figures(written[name][1])
    assert _percent(parts, "beyond_four") <= 1.0


def test_keyboard_parts_on_a_grand_staff_and_others_on_the_clef_they_need(written) -> None:
    parts = read_figures(written["C major"][1])
    assert list(parts) == ["Melody", "Accompaniment", "Bass", "Pad"]  # drums: MIDI only
    for name in ("Accompaniment", "Pad"):
        assert parts[name].staves == 2
        assert parts[name].clefs == {1: ("G", 2, 0), 2: ("F", 4, 0)}
    assert parts["Melody"].staves == 1 and parts["Melody"].clefs == {1: ("G", 2, 0)}
    # the derived bass (G1-F#2) reads in the octave bass clef, not under three ledger lines
    assert parts["Bass"].clefs == {1: ("F", 4, -1)}


def test_every_note_is_written_where_and_as_it_sounds(written) -> None:
    """Notation only: each struck note of the MIDI is struck in the score, at its tick and
    pitch, and nothing else is (same-pitch notes struck together are one, as in the MIDI)."""
    arrangement, path = written["Ab major"]
    parts = read_figures(path)
    for track in arrangement.tracks:
        if track.is_drum:
            continue
        expected = Counter({(n.onset, n.pitch): 1 for n in track.notes})
        assert parts[track.name].attacks == expected, track.name


def test_the_midi_file_is_what_it_was(written, tmp_path: Path) -> None:
    arrangement, _ = written["C major"]
    write_midi(arrangement, tmp_path / "before.mid")
    write_musicxml(arrangement, tmp_path / "score.musicxml")
    write_midi(arrangement, tmp_path / "after.mid")
    assert (tmp_path / "before.mid").read_bytes() == (tmp_path / "after.mid").read_bytes()


def test_the_melody_reads_as_one_line(written) -> None:
    arrangement, path = written["E major"]
    melody = next(t for t in arrangement.tracks if t.role == "melody")
    pairs = zip(melody.notes, melody.notes[1:], strict=False)
    overlapping = sum(a.offset > b.onset > a.onset for a, b in pairs)
    assert overlapping > 5  # the fixture's melody does overlap itself
    root = ET.parse(path).getroot()
    part = next(root.iter("part"))
    notes = list(part.iter("note"))
    assert not any(n.find("chord") is not None for n in notes)  # no stacked notes
    # (a bar with one voice may leave <voice> out: it is voice 1)
    voices = Counter(n.findtext("voice") or "1" for n in notes if n.find("rest") is None)
    # a doubled note is a second voice, everything else the first
    assert set(voices) == {"1", "2"} and voices["2"] < 0.1 * voices["1"]


def test_durations_are_split_at_beats_not_tied_in_16ths(written) -> None:
    arrangement, path = written["C minor"]
    parts = read_figures(path)
    assert sum(p.sixteenth_chains for p in parts.values()) == 0
    # a held bass under an arpeggio is one note per bar, not a tied chord at every 8th
    piano = next(t for t in arrangement.tracks if t.role == "accompaniment")
    assert parts["Accompaniment"].notes < 1.3 * len(piano.notes)


@pytest.mark.parametrize(
    ("start", "length", "meter", "rest", "values"),
    [
        (3, 5, "4/4", False, [1, 4]),  # a 16th before beat 2 tied to a quarter, not the reverse
        (0, 16, "4/4", False, [16]),
        (2, 4, "4/4", False, [4]),  # 8th-quarter-8th syncopation stays one quarter
        (2, 12, "4/4", False, [2, 8, 2]),  # an off-beat note over three beats is split
        (0, 10, "4/4", False, [8, 2]),
        (0, 5, "6/8", False, [4, 1]),
        (0, 8, "6/8", False, [6, 2]),  # the dotted-quarter beat shows
        (0, 12, "6/8", False, [12]),
        (4, 12, "4/4", True, [4, 8]),  # a rest from beat 2 to the end: quarter, half
        (1, 3, "4/4", True, [1, 2]),
    ],
)
def test_note_values_follow_the_meter(start, length, meter, rest, values) -> None:
    assert note_values(start, length, TimeSignature.parse(meter), 4, rest=rest) == values


def test_pitches_are_spelt_for_the_key_and_the_chord() -> None:
    def spelling(midi: int, key: tuple[int, str], chord: tuple[int, str] | None = None) -> str:
        chords = (Chord(0, 16, chord[0], chord[1], chord[0]),) if chord else ()
        score = Score((TimeSignature(4, 4),), TempoMap.constant(120), chords=chords)
        return Speller(score, [KeyChange(0, *key)]).spell(midi, 0).nameWithOctave

    assert spelling(63, (4, "major")) == "D#4"  # E major's leading tone, never E-flat
    assert spelling(63, (8, "major")) == "E-4"
    assert spelling(68, (0, "major")) == "A-4"  # bVI in C...
    assert spelling(68, (0, "major"), (4, "maj")) == "G#4"  # ...but the third of E major
    assert spelling(68, (9, "minor")) == "G#4"  # A minor's raised seventh
    assert spelling(65, (8, "minor"), (11, "dim7")) == "F4"  # B D F A-flat
    assert spelling(66, (0, "major"), (2, "7")) == "F#4"  # V/V


def test_names_credits_and_instruments(written) -> None:
    arrangement, path = written["C major"]
    parts = read_figures(path)
    assert {n: p.abbreviation for n, p in parts.items()} == {
        "Melody": "Mel.",
        "Accompaniment": "Acc.",
        "Bass": "Bs.",
        "Pad": "Pad",
    }
    # the instrument is named once: over the part's first bar (and as its sound)
    expected = {
        "Melody": "String Ensemble 1",
        "Accompaniment": "Acoustic Grand Piano",
        "Bass": "Contrabass",
        "Pad": "Pad 2 (warm)",
    }
    assert {n: p.instrument for n, p in parts.items()} == expected
    assert {n: p.words for n, p in parts.items()} == {n: [(0, i)] for n, i in expected.items()}
    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    # no other names of the parts anywhere (music21's class abbreviations: "Samp", "Cb")
    assert [e.text for e in root.iter("instrument-abbreviation")] == []
    assert root.findtext("work/work-title") == "clip"
    assert [c.text for c in root.iter("creator")] == [None]  # an empty composer credit
    assert "Music21" not in text.replace("music21 v.", "")  # the encoding's software line


def test_a_rehearsal_mark_at_every_cut_and_section(written) -> None:
    arrangement, path = written["F# minor, then D major"]
    parts = read_figures(path)
    assert all(not p.rehearsals for name, p in parts.items() if name != "Melody")
    # the cut and the section that start bar 9 share a mark; texts as in the MIDI markers
    assert parts["Melody"].rehearsals == [
        (0, Fraction(0), "Section 1"),
        (4, Fraction(1), "Cut 1 — 00:02.50"),
        (8, Fraction(0), "Cut 2 — 00:05.00 / Section 2"),
    ]


def test_a_part_without_notes_is_a_staff_of_bar_rests(written, tmp_path: Path) -> None:
    arrangement, _ = written["C major"]
    tracks = tuple(dataclasses.replace(t, notes=()) if t.role == "pad" else t
                   for t in arrangement.tracks)  # fmt: skip
    path = tmp_path / "empty_pad.musicxml"
    write_musicxml(dataclasses.replace(arrangement, tracks=tracks), path)
    root = ET.parse(path).getroot()
    pad = list(root.iter("part"))[3]
    rests = [n.find("rest") for n in pad.iter("note")]
    assert len(rests) == 2 * len(METERS) and all(r.get("measure") == "yes" for r in rests)


def _music21_full_pass(arrangement: Arrangement, path: Path) -> bytes:
    """The file as music21's own complete pass writes it: beams, and the stems of beamed notes,
    made over each whole part (every bar's meter and clef looked up in context), whole-bar rests
    found by their meter, and ``write`` with its notation pass."""
    from music21 import beam, note, stream
    from music21.stream import makeNotation

    m21 = arrangement_to_music21(arrangement)
    for part in m21.getElementsByClass(stream.Part):
        for n in part.recurse().notes:
            n.beams = beam.Beams()
            n.stemDirection = "unspecified"  # as they were before our beaming set them
        for rest in part.recurse().getElementsByClass(note.Rest):
            rest.fullMeasure = "auto"  # music21's default: decided from the meter in context
        makeNotation.makeBeams(part, inPlace=True)
    m21.write("musicxml", fp=path)
    return _without_date(path.read_bytes())


def _without_date(xml: bytes) -> bytes:
    return b"\n".join(line for line in xml.split(b"\n") if b"<encoding-date>" not in line)


@pytest.mark.parametrize("name", KEYS)
def test_the_quick_path_writes_what_music21s_full_pass_writes(written, name, tmp_path) -> None:
    """Beaming bar by bar with the meter and clef at hand, and writing without music21's
    notation pass (which copies the whole score to change nothing), give the same file byte
    for byte."""
    arrangement, path = written[name]
    assert _without_date(path.read_bytes()) == _music21_full_pass(arrangement, tmp_path / "m.xml")


# -- MuseScore's re-save of it ------------------------------------------------------------------


@pytest.mark.parametrize("name", KEYS)
def test_musescore_resave_keeps_the_figures(written, resaved, name: str) -> None:
    ours, theirs = read_figures(written[name][1]), read_figures(resaved[name])
    assert _percent(theirs, "redundant") <= 1.0
    assert sum(p.missing for p in theirs.values()) == 0
    assert _percent(theirs, "beyond_four") <= 1.0
    assert {n: p.notes for n, p in theirs.items()} == {n: p.notes for n, p in ours.items()}
    assert {n: (p.abbreviation, p.staves) for n, p in theirs.items()} == {
        "Melody": ("Mel.", 1),
        "Accompaniment": ("Acc.", 2),
        "Bass": ("Bs.", 1),
        "Pad": ("Pad", 2),
    }
    text = resaved[name].read_text(encoding="utf-8")
    assert "Music21" not in text
    # one rehearsal mark per cut and section start (those at one tick share it)
    marks = [(bar, text) for p in theirs.values() for bar, _, text in p.rehearsals]
    assert marks == [
        (0, "Section 1"),
        (4, "Cut 1 — 00:02.50"),
        (8, "Cut 2 — 00:05.00 / Section 2"),
    ]


def test_a_six_eight_piece_is_written_in_dotted_quarter_beats(tmp_path: Path) -> None:
    score = Score((TimeSignature(6, 8),) * 2, TempoMap.constant(90), (KeyChange(0, 7, "major"),))
    # a half note's worth from the downbeat, then a quarter and an 8th over the second beat
    melody = (Note(0, 8, 67), Note(8, 4, 66), Note(12, 12, 71))
    piano = (Note(0, 24, 43), Note(0, 6, 59), Note(6, 6, 62))
    tracks = (
        Track("Melody", "melody", 48, 0, melody),
        Track("Accompaniment", "accompaniment", 0, 1, piano),
    )
    arrangement = Arrangement(score, tracks, title="six-eight")
    path = tmp_path / "six_eight.musicxml"
    write_musicxml(arrangement, path)
    root = ET.parse(path).getroot()
    melody_part, piano_part = root.iter("part")
    written = [
        (n.findtext("type"), n.find("dot") is not None, n.findtext("pitch/step"))
        for n in melody_part.iter("note")
    ]
    assert written == [
        ("quarter", True, "G"),  # the dotted-quarter beat...
        ("eighth", False, "G"),  # ...tied over, not a half note across it
        ("quarter", False, "F"),  # F#, the key signature's (no accidental printed)
        ("half", True, "B"),  # a whole bar: one dotted half
    ]
    assert not any(n.find("accidental") is not None for n in melody_part.iter("note"))
    parts = read_figures(path)
    assert parts["Accompaniment"].staves == 2
    assert [t.text for t in root.iter("beat-type")] == ["8", "8"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor"])),
    meters=st.lists(st.sampled_from(["4/4", "3/4", "6/8", "2/4"]), min_size=1, max_size=3),
    raw=st.lists(
        st.tuples(st.integers(0, 47), st.integers(1, 20), st.integers(0, 127)),
        min_size=1,
        max_size=40,
    ),
    role=st.sampled_from(["melody", "accompaniment", "bass"]),
)
# MIDI 6 is F#-1, whose name with octave once read back as F with a "#-" accidental (a tied note
# crossing the bar line is spelt again from that name); and a chord of Bb and B
@example(key=(0, "minor"), meters=["4/4"], raw=[(0, 1, 22), (0, 1, 23)], role="accompaniment")
@example(key=(0, "major"), meters=["4/4"], raw=[(8, 12, 6), (0, 4, 127)], role="bass")
def test_any_notes_are_written_completely_and_correctly(key, meters, raw, role) -> None:
    """Whatever the notes (overlaps, unisons, the whole MIDI range, odd lengths), every struck
    note is written at its tick and pitch, no alteration is left without its accidental, and
    the file is what music21's complete notation pass writes."""
    import tempfile

    score = Score(tuple(TimeSignature.parse(m) for m in meters), TempoMap.constant(100),
                  (KeyChange(0, *key),))  # fmt: skip
    notes = tuple(
        Note(onset, duration, pitch) for onset, duration, pitch in raw if onset < score.length
    )
    track = Track(role.title(), role, 0 if role == "accompaniment" else 48, 1, notes)
    bar_starts = [bar.start for bar in score.bars()]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.musicxml"
        write_musicxml(Arrangement(score, (track,)), path)
        (figures,) = read_figures(path, bar_starts).values()
        full_pass = _music21_full_pass(Arrangement(score, (track,)), Path(folder) / "full.xml")
        assert _without_date(path.read_bytes()) == full_pass
    struck = Counter({(n.onset, n.pitch): 1 for n in notes})
    assert figures.attacks == struck
    assert figures.missing == 0 and figures.redundant == 0
