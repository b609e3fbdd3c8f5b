"""Arrangement -> MusicXML with music21: a score a musician can read and edit.

    >>> write_musicxml(arrangement, Path("clip.musicxml"))   # doctest: +SKIP

One part per pitched track, named by its role (``Melody`` / ``Mel.``), with the instrument it
plays named once, as a text over its first bar (and as the MusicXML instrument, which
MuseScore's mixer shows); the meters, keys, tempo marks, and a rehearsal mark at every cut and
section start with the MIDI marker's text. The MIDI file is the performance; this file is only
its notation, so nothing here changes what the MIDI plays.

How the notation is made (the figures are checked on the written XML by
``tests/export/test_score_notation.py``):

- **Spelling for the key** (:class:`Speller`): a chord tone is spelt from the chord in force
  (E major in C is E G# B, Ab major is Ab C Eb), any other note from the key: scale degrees as
  the key signature has them, chromatic ones as the usual altered degrees (major: b2 b3 #4 b6
  b7; minor: b2, raised 3, #4, raised 6 and 7), a chromatic passing note in the direction it
  moves. music21 spells a MIDI number without regard to the key (``Note(63)`` is always E-flat,
  with an explicit natural on every white key: where the needless naturals came from).
- **Accidentals as an engraver writes them** (:func:`_make_accidentals`): the key signature
  of each bar (its changes included); an accidental where a note's alteration differs from
  what is in force on its staff, step and octave (the signature, or an earlier note of the
  bar), with the notes of all voices in time order; none on a note tied over, which does not
  stand in for one later in the bar; courtesy accidentals, in parentheses, only after a bar
  that ended altered on that step and octave, or against the same step altered otherwise in
  the bar. A small layer of our own: music21's accidental rules either re-mark every repeat of
  an altered note in a bar or drop a needed natural in another octave (see the function).
- **Staves that fit the part**: keyboard parts (accompaniment, pad, or a melody-free part on a
  piano, organ or synth-pad program) on a grand staff, each onset's notes split between the
  hands where it costs the fewest ledger lines without splitting a chord one hand can play
  or over-stretching a hand; other parts on the one clef (treble, bass, or their octave
  forms) that needs the fewest ledger lines.
- **Voices instead of tied chords**: a staff has up to three voices (the highest line stems
  up; the lower voices' rests are not printed); a note that rings over the next one goes to
  another voice, so a held bass under an arpeggio is one long note, not a chain of tied 16ths.
  Only where a fourth line would be needed are overlapping notes sliced into tied chords; a
  note that rings a 16th or less into the next onset is written legato instead. A melody or
  bass line is one voice: a note that rings into the next is trimmed to legato (the MIDI
  keeps the overlap), and two notes struck together become two voices.
- **Durations as the meter groups them** (:func:`note_values`): a value that is not one plain
  or dotted note is split at the beat (a 16th tied to a quarter, not a quarter tied to a
  16th, when a note starts just before a beat); an off-beat note that crosses more than one
  beat is split at the first; rests start on beats and fill bars. music21 splits only at bar
  lines (``makeTies``) and breaks other values into components, largest first, wherever they
  fall, so this small layer does the rest.
- **Same-pitch overlaps end the earlier note** where the later one starts, as in the MIDI file
  (:mod:`symbolic_v2m.export.midi`): the notation shows what is heard.

Decisions kept from the first version:

- **Drum tracks are left out.** music21 writes a percussion part with one instrument for the
  whole part: every hit gets the same sound and, unless placed by hand, the same staff line, so
  a notation program would show and play a wrong drum part. The drums are derived by rule from
  the visual accents and are complete in the MIDI file, which MuseScore imports as a drum set;
  the MusicXML is for the composed, pitched parts.
- **Metronome marks only where the rounded tempo changes.** A measured tempo map (POP909: an
  anchor on every beat) changes tempo by fractions of a BPM on every beat; a mark per beat would
  bury the score. The MIDI file keeps the exact tempo map.
- **The composer credit is left empty**: music21 writes "Music21" when there is none, and the
  music is the user's to sign.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import pretty_midi
from music21 import (
    chord,
    clef,
    expressions,
    instrument,
    interval,
    key,
    layout,
    metadata,
    meter,
    note,
    pitch,
    stream,
    tempo,
    tie,
)
from music21.stream import makeNotation

from symbolic_v2m.arrangement import TRACK_NAMES, Arrangement, Marker, Track
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.export.midi import MAJOR_KEY_NAMES, MINOR_KEY_NAMES
from symbolic_v2m.music.chords import QUALITY_INTERVALS
from symbolic_v2m.music.score import Bar, KeyChange, Note, Score, TimeSignature, clip_notes

log = logging.getLogger(__name__)

#: Roles written on a grand staff, whatever their instrument.
KEYBOARD_ROLES = frozenset({"accompaniment", "pad"})
#: Roles that are one line: overlapping notes are trimmed to legato, never written as chords.
MONOPHONIC_ROLES = frozenset({"melody", "bass"})
#: General MIDI programs played from a keyboard: pianos, organs, synth pads.
KEYBOARD_PROGRAMS = frozenset((*range(0, 8), *range(16, 24), *range(88, 96)))
#: Part abbreviations by role (later systems); other roles get the first letters of the name.
ABBREVIATIONS = {
    "melody": "Mel.",
    "accompaniment": "Acc.",
    "bass": "Bs.",
    "pad": "Pad",
    "percussion": "Perc.",
}
#: At most this many voices per staff (a held bass, an inner line and a tune over them); more
#: simultaneous lines are sliced into tied chords.
MAX_VOICES = 3

# Hand split of a grand staff: costs in ledger lines. A hand spans about an octave: a chord
# within one is kept on one staff unless that costs three ledger lines more than splitting it.
_HAND_SPAN = 12
_SPAN_COST = 4.0
_SPLIT_COST = 3.0
_MOVE_COST = 0.5  # a note that leaves the staff its neighbour in the previous onset used
# Clef choice: notes beyond four ledger lines are what the issue forbids; an octave clef is a
# small cost so that a part that fits a plain clef keeps it.
_BEYOND_COST = 50.0
_OCTAVE_CLEF_COST = 0.75
_MAX_LEDGER_LINES = 4
_CLEFS = (
    clef.TrebleClef,
    clef.BassClef,
    clef.Treble8vaClef,
    clef.Treble8vbClef,
    clef.Bass8vbClef,
    clef.Bass8vaClef,
)

# Interval names of a chord's tones above its root, by semitones (a diminished seventh is the
# one chord in the vocabulary whose 9 semitones are a seventh, not a sixth).
_CHORD_INTERVAL_NAMES = ("P1", "m2", "M2", "m3", "M3", "P4", "d5", "P5", "A5", "M6", "m7", "M7")
# Non-scale pitch classes above the tonic, as the altered degree a musician would write.
_CHROMATIC_DEGREES = {
    "major": {1: "m2", 3: "m3", 6: "A4", 8: "m6", 10: "m7"},
    "minor": {1: "m2", 4: "M3", 6: "A4", 9: "M6", 11: "M7"},
}


# -- public entry points ----------------------------------------------------------------------


def arrangement_to_music21(arrangement: Arrangement) -> stream.Score:
    """Build the music21 score of ``arrangement``'s pitched tracks (see the module docstring).

    Raises:
        ValueError: the arrangement has no pitched track.
    """
    score = arrangement.score
    pitched = [track for track in arrangement.tracks if not track.is_drum]
    skipped = [track.name for track in arrangement.tracks if track.is_drum]
    if not pitched:
        raise ValueError("no pitched track to write as MusicXML (drum tracks are left out)")
    if skipped:
        log.debug("MusicXML: drum tracks left out (they are in the MIDI file): %s", skipped)
    result = stream.Score()
    # an empty composer: music21 would otherwise credit "Music21"
    result.metadata = metadata.Metadata(title=arrangement.title, composer="")
    layout_ = _ScoreLayout(score)
    speller = Speller(score, layout_.bar_keys)
    for index, track in enumerate(pitched, 1):
        staves = _staff_plans(track, speller, score)
        parts = [
            _part(track, plan, layout_, first=index == 1 and number == 0)
            for number, plan in enumerate(staves)
        ]
        for number, part in enumerate(parts):
            part.id = f"P{index}" if len(parts) == 1 else f"P{index}-Staff{number + 1}"
            # music21 would name parts and instruments with random ids: the same score must
            # give the same file (a rerun with the same seed leaves the file as it was)
            inst = part.getInstrument(returnDefault=False)
            inst.partId, inst.instrumentId = part.id, f"I{index}"
            result.insert(0, part)
        if len(parts) > 1:
            result.insert(
                0,
                layout.StaffGroup(
                    parts,
                    name=track.name,
                    abbreviation=part_abbreviation(track),
                    symbol="brace",
                    barTogether=True,
                ),
            )
        _mark_start(parts[0], instrument_name(track.program))
    _mark_markers(result.parts[0], arrangement.markers, layout_)
    return result


def write_musicxml(arrangement: Arrangement, path: Path) -> None:
    """Write ``arrangement``'s pitched tracks as MusicXML at ``path``, atomically.

    A ``.mxl`` suffix gives compressed MusicXML (music21 picks the format from the name).

    Raises:
        ValueError: the arrangement has no pitched track.
    """
    m21 = arrangement_to_music21(arrangement)
    with atomic_output(Path(path)) as tmp:
        # the score is complete notation already (bars filled, ties, beams): music21's own
        # pass would copy the whole score to change nothing (half the writing time)
        m21.write("musicxml", fp=tmp, makeNotation=False)


def music21_key(change: KeyChange) -> key.Key:
    """The music21 key of a key change, spelt as in the MIDI file (``Bb`` major, ``F#`` minor)."""
    if change.mode == "major":
        name = MAJOR_KEY_NAMES[change.tonic]
    else:
        name = MINOR_KEY_NAMES[change.tonic].removesuffix("m")
    return key.Key(name.replace("b", "-"), change.mode)


def part_abbreviation(track: Track) -> str:
    """The short name printed before later systems: ``Mel.``, ``Acc.``, or from the name."""
    if track.role in ABBREVIATIONS and track.name == TRACK_NAMES.get(track.role):
        return ABBREVIATIONS[track.role]
    return track.name if len(track.name) <= 5 else f"{track.name[:3]}."


def instrument_name(program: int) -> str:
    """The General MIDI name of a program: ``"String Ensemble 1"``, ``"Pad 2 (warm)"``."""
    return pretty_midi.program_to_instrument_name(program)


def note_values(start: int, length: int, meter_: TimeSignature, tpb: int, rest: bool) -> list[int]:
    """The written values (ticks) of a note or rest of ``length`` ticks at ``start`` in a bar.

    A value that is one plain or dotted note stays whole unless it starts off the beat and
    crosses more than one beat (or crosses one without both ends on the half-beat grid, as a
    16th before the beat tied over it would), or, in a compound meter, starts on a beat and
    crosses the next without ending on one; otherwise it is split at a beat (the first one
    after an off-beat start, else the last one that leaves a plain first value), down to half
    beats and ticks. Rests start on beats and span only 1, 2 or 4 beats aligned to their own
    length, as engravers write them; the caller writes a whole empty bar as one bar rest.

    >>> note_values(3, 5, TimeSignature(4, 4), 4, rest=False)   # 16th tied to a quarter
    [1, 4]
    """
    if length <= 0 or start < 0:
        raise ValueError(f"a value needs a positive length inside the bar ({start}, {length})")
    beat = _beat_ticks(meter_, tpb)
    levels = _levels(beat)
    values: list[int] = []
    pieces = [(start, length)]
    while pieces:
        begin, size = pieces.pop(0)
        cut = (_rest_cut if rest else _note_cut)(begin, size, beat, levels, tpb)
        if cut is None:
            values.append(size)
        else:
            pieces[:0] = [(begin, cut - begin), (cut, begin + size - cut)]
    return values


# -- spelling ---------------------------------------------------------------------------------


class Speller:
    """MIDI pitches -> music21 pitches spelt for the key and chord in force (module docstring).

    Args:
        score: gives the chord at a tick.
        bar_keys: the key written on each bar (see :class:`_ScoreLayout`).
    """

    def __init__(self, score: Score, bar_keys: Sequence[KeyChange]) -> None:
        self._score = score
        self._bar_keys = bar_keys

    def spell(self, midi: int, tick: int, passing: int = 0) -> pitch.Pitch:
        """The pitch ``midi`` at ``tick``. ``passing`` is +1 / -1 for a chromatic passing note
        of a single line going up / down by semitones (spelt raised / lowered: F# between F
        and G, Ab between A and G)."""
        k = self._bar_keys[self._score.bar_at(tick)]
        current = self._score.chord_at(tick)
        chord_key = None
        if (
            current is not None
            and current.root is not None
            and current.quality in QUALITY_INTERVALS
        ):
            chord_key = (current.root, current.quality)
        name = _spelling(midi % 12, k.tonic, k.mode, chord_key, passing)
        result = pitch.Pitch(name)
        result.octave = 4
        result.octave += (midi - round(result.ps)) // 12
        assert round(result.ps) == midi, (name, midi)
        return result


@lru_cache(maxsize=32)
def _scale_names(tonic: int, mode: str) -> tuple[pitch.Pitch, dict[int, str]]:
    """The key's tonic and its scale's names by pitch class (music21 builds scales slowly)."""
    k = music21_key(KeyChange(0, tonic, mode))
    return pitch.Pitch(k.tonic.name), {p.pitchClass: p.name for p in k.getPitches()}


@lru_cache(maxsize=4096)
def _spelling(
    pc: int, tonic: int, mode: str, chord_key: tuple[int, str] | None, passing: int
) -> str:
    """The music21 name (``"G#"``, ``"B-"``) of pitch class ``pc`` in a key, over a chord."""
    tonic_pitch, scale = _scale_names(tonic, mode)
    if chord_key is not None:
        root, quality = chord_key
        intervals = QUALITY_INTERVALS[quality]
        if (pc - root) % 12 in intervals:
            root_name = _spelling(root, tonic, mode, None, 0)
            semitones = (pc - root) % 12
            name = (
                "d7" if quality == "dim7" and semitones == 9 else _CHORD_INTERVAL_NAMES[semitones]
            )
            spelt = interval.Interval(name).transposePitch(pitch.Pitch(root_name))
            if abs(spelt.alter) <= 1:  # a double sharp or flat reads worse than a respelling
                return spelt.name
    if pc in scale:
        return scale[pc]
    degree = (pc - tonic) % 12
    if passing:
        # a chromatic passing note: raised going up (F# to G), lowered going down (Ab to G)
        plain = pitch.Pitch(pc)
        for candidate in (plain, *plain.getAllCommonEnharmonics(alterLimit=1)):
            if candidate.alter * passing > 0:
                return candidate.name
    spelt = interval.Interval(_CHROMATIC_DEGREES[mode][degree]).transposePitch(tonic_pitch)
    return spelt.name


# -- the score's bars: keys, offsets ----------------------------------------------------------


@dataclass(frozen=True)
class _ScoreLayout:
    """Where things go in the written bars: the key of each bar and tick -> (bar, offset).

    A key change is written at the bar line it lands on (the architecture puts key changes on
    bar lines); one inside a bar takes effect at the next bar line, and the first key covers
    the opening wherever it was written.
    """

    score: Score
    bars: tuple[Bar, ...] = field(init=False)
    bar_keys: tuple[KeyChange, ...] = field(init=False)

    def __post_init__(self) -> None:
        bars = tuple(self.score.bars())
        keys = sorted(self.score.keys, key=lambda k: k.onset) or [KeyChange(0, 0, "major")]
        bar_keys = []
        for bar in bars:
            in_force = keys[0]
            for change in keys[1:]:
                if change.onset <= bar.start:
                    in_force = change
            bar_keys.append(in_force)
        object.__setattr__(self, "bars", bars)
        object.__setattr__(self, "bar_keys", tuple(bar_keys))

    def locate(self, tick: int) -> tuple[int, Fraction]:
        """``(bar index, offset in quarters within the bar)`` of a tick (clamped to the piece)."""
        tick = min(max(tick, 0), self.score.length - 1)
        index = self.score.bar_at(tick)
        return index, Fraction(tick - self.bars[index].start, self.score.ticks_per_beat)


# -- staves and voices ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    """A note, chord (several pitches) or rest (none) of one voice, in ticks.

    ``tied_in`` / ``tied_out``: the pitches tied from the previous event / into the next.
    """

    onset: int
    duration: int
    pitches: tuple[int, ...] = ()
    tied_in: frozenset[int] = frozenset()
    tied_out: frozenset[int] = frozenset()

    @property
    def offset(self) -> int:
        return self.onset + self.duration


@dataclass
class _StaffPlan:
    """One staff of a part: its clef and its voices (events, sorted, never overlapping)."""

    clef: clef.Clef
    voices: list[list[_Event]]
    spelt: dict[tuple[int, int], pitch.Pitch]  # (tick, midi) -> spelling


def _staff_plans(track: Track, speller: Speller, score: Score) -> list[_StaffPlan]:
    # the notation ends at the last bar line, as the music does
    notes = _resolve_unisons(clip_notes(track.notes, score.length))
    mono = track.role in MONOPHONIC_ROLES
    if mono:
        notes = _legato(notes)
    spelt = _spell_notes(notes, speller, line=mono)
    if _is_keyboard(track):
        upper, lower = _split_hands(notes, spelt)
        # a piano's clefs, in their octave forms only for a part written mostly out of range
        staves = [
            (_best_clef(upper, spelt, (clef.TrebleClef, clef.Treble8vaClef)), upper),
            (_best_clef(lower, spelt, (clef.BassClef, clef.Bass8vbClef)), lower),
        ]
    else:
        staves = [(_best_clef(notes, spelt), list(notes))]
    if not mono:
        staves = [(c, _trim_short_overlaps(n, score.ticks_per_beat // 4)) for c, n in staves]
    return [
        _StaffPlan(staff_clef, _voices(staff_notes, mono), spelt)
        for staff_clef, staff_notes in staves
    ]


def _is_keyboard(track: Track) -> bool:
    if track.role in KEYBOARD_ROLES:
        return True
    return track.program in KEYBOARD_PROGRAMS and track.role not in MONOPHONIC_ROLES


def _resolve_unisons(notes: Iterable[Note]) -> list[Note]:
    """Same-pitch overlaps end the earlier note where the later starts (as the MIDI file)."""
    by_pitch: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        by_pitch[n.pitch].append(n)
    result = []
    for same in by_pitch.values():
        same.sort(key=lambda n: (n.onset, -n.duration, -n.velocity))
        kept = [n for i, n in enumerate(same) if i == 0 or same[i - 1].onset != n.onset]
        for n, following in zip(kept, [*kept[1:], None], strict=True):
            end = n.offset if following is None else min(n.offset, following.onset)
            result.append(Note(n.onset, end - n.onset, n.pitch, n.velocity))
    return sorted(result, key=lambda n: (n.onset, n.pitch))


def _legato(notes: list[Note]) -> list[Note]:
    """A single line: each note ends at the latest where the next onset is (notation only)."""
    onsets = sorted({n.onset for n in notes})
    result = []
    for n in notes:
        following = bisect.bisect_right(onsets, n.onset)
        end = n.offset if following == len(onsets) else min(n.offset, onsets[following])
        result.append(Note(n.onset, end - n.onset, n.pitch, n.velocity))
    return result


def _trim_short_overlaps(notes: list[Note], limit: int) -> list[Note]:
    """Notes that ring at most ``limit`` ticks (a 16th) into the staff's next onset end there.

    A transcriber writes such a note legato rather than give it a voice of its own for the
    16th it overlaps (the MIDI keeps it); a note held over the next onsets for longer (a bass
    under an arpeggio) keeps its length and gets a voice.
    """
    onsets = sorted({n.onset for n in notes})
    result = []
    for n in notes:
        following = bisect.bisect_right(onsets, n.onset)
        if following < len(onsets) and 0 < n.offset - onsets[following] <= limit:
            n = Note(n.onset, onsets[following] - n.onset, n.pitch, n.velocity)
        result.append(n)
    return result


def _spell_notes(
    notes: list[Note], speller: Speller, line: bool
) -> dict[tuple[int, int], pitch.Pitch]:
    """Each note's spelling; in a single line a note between its semitone neighbours is a
    chromatic passing note (see :meth:`Speller.spell`)."""
    spelt = {}
    for index, n in enumerate(notes):
        passing = 0
        if line and 0 < index < len(notes) - 1:
            before, after = notes[index - 1].pitch, notes[index + 1].pitch
            if abs(n.pitch - before) == 1 and after - n.pitch == n.pitch - before:
                passing = after - n.pitch
        spelt[(n.onset, n.pitch)] = speller.spell(n.pitch, n.onset, passing)
    return spelt


def _ledger_lines(diatonic: int, lowest_line: int) -> int:
    """Ledger lines a note at music21 diatonic number ``diatonic`` needs on a staff whose
    bottom line is ``lowest_line`` (see :func:`_lowest_line`)."""
    top = lowest_line + 8
    if diatonic > top:
        return (diatonic - top) // 2
    if diatonic < lowest_line:
        return (lowest_line - diatonic) // 2
    return 0


# music21 diatonic numbers (``Pitch.diatonicNoteNum``, C4 = 29) of the notes the clef signs
# name: G4, F3, C4
_CLEF_SIGN_PITCH = {"G": 33, "F": 25, "C": 29}
_TREBLE_BOTTOM = 31  # E4
_BASS_BOTTOM = 19  # G2


def _lowest_line(staff_clef: clef.Clef) -> int:
    """The diatonic number (music21's ``diatonicNoteNum``) of the staff's bottom line as the
    notes sound: music21's ``Clef.lowestLine`` ignores the octave of an octave clef."""
    bottom = _CLEF_SIGN_PITCH[staff_clef.sign] - 2 * (staff_clef.line - 1)
    return bottom + 7 * staff_clef.octaveChange


def _clef_cost(diatonics: Sequence[int], staff_clef: clef.Clef) -> float:
    """Ledger lines the notes need on the clef, a heavy cost per note beyond four, and a small
    one per note for an octave clef (so a part that fits a plain clef keeps it)."""
    cost, bottom = 0.0, _lowest_line(staff_clef)
    for d in diatonics:
        lines = _ledger_lines(d, bottom)
        cost += lines + (_BEYOND_COST if lines > _MAX_LEDGER_LINES else 0.0)
    if staff_clef.octaveChange:
        cost += _OCTAVE_CLEF_COST * len(diatonics)
    return cost


def _best_clef(
    notes: list[Note],
    spelt: dict[tuple[int, int], pitch.Pitch],
    candidates: Sequence[type[clef.Clef]] = _CLEFS,
) -> clef.Clef:
    """The clef among ``candidates`` (the first if there are no notes) that costs the fewest
    ledger lines (see :func:`_clef_cost`)."""
    diatonics = [spelt[(n.onset, n.pitch)].diatonicNoteNum for n in notes]
    return min((make() for make in candidates), key=lambda c: _clef_cost(diatonics, c))


def _split_hands(
    notes: list[Note], spelt: dict[tuple[int, int], pitch.Pitch]
) -> tuple[list[Note], list[Note]]:
    """Notes of a keyboard part -> (right hand / treble staff, left hand / bass staff).

    Each onset's notes are split at the point that costs the fewest ledger lines on the two
    staves, plus a cost for a hand stretched beyond an octave, for splitting a chord that one
    hand could play, and for moving a note to the other staff from the one its
    neighbour (within a fifth) used at the previous onset, so arpeggios do not flicker.
    """
    by_onset: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        by_onset[n.onset].append(n)
    upper: list[Note] = []
    lower: list[Note] = []
    previous: list[tuple[int, bool]] = []  # (midi, on the upper staff) at the previous onset
    for onset in sorted(by_onset):
        group = sorted(by_onset[onset], key=lambda n: n.pitch)
        diatonic = [spelt[(n.onset, n.pitch)].diatonicNoteNum for n in group]
        split = min(
            range(len(group) + 1),
            key=lambda s: (_hand_cost(group, diatonic, s, previous), abs(s - len(group) / 2)),
        )
        lower.extend(group[:split])
        upper.extend(group[split:])
        previous = [(n.pitch, index >= split) for index, n in enumerate(group)]
    return upper, lower


def _hand_cost(
    group: list[Note], diatonic: list[int], split: int, previous: list[tuple[int, bool]]
) -> float:
    """Cost of writing ``group[:split]`` on the bass staff and the rest on the treble staff."""
    low, high = group[:split], group[split:]
    total = float(sum(_ledger_lines(d, _BASS_BOTTOM) for d in diatonic[:split]))
    total += sum(_ledger_lines(d, _TREBLE_BOTTOM) for d in diatonic[split:])
    for hand in (low, high):
        if hand and hand[-1].pitch - hand[0].pitch > _HAND_SPAN:
            total += _SPAN_COST
    if low and high and group[-1].pitch - group[0].pitch <= _HAND_SPAN:
        total += _SPLIT_COST  # a chord one hand can play stays on one staff
    for index, n in enumerate(group):
        near = [(abs(midi - n.pitch), up) for midi, up in previous if abs(midi - n.pitch) <= 7]
        if near and min(near)[1] != (index >= split):
            total += _MOVE_COST
    return total


def _voices(notes: list[Note], mono: bool) -> list[list[_Event]]:
    """Notes of one staff -> up to :data:`MAX_VOICES` voices of non-overlapping events.

    Notes that start and end together are one chord (in a single line every note is its own
    event, so a doubling becomes a second voice). Each event goes to a free voice: in a single
    line the first, otherwise the one whose last pitch is nearest (a held bass and the
    arpeggio over it each keep a voice). An event that finds no free voice joins the one that
    frees soonest, which is then sliced into tied chords where its notes overlap.
    """
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for index, n in enumerate(notes):
        groups[(n.onset, n.offset, index if mono else 0)].append(n.pitch)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0], -max(item[1])))
    voices: list[list[Note]] = []
    ends: list[int] = []
    last_pitch: list[float] = []
    for (onset, offset, *_), pitches in ordered:
        free = [v for v in range(len(voices)) if ends[v] <= onset]
        mean = sum(pitches) / len(pitches)
        if free:
            target = free[0] if mono else min(free, key=lambda v: (abs(last_pitch[v] - mean), v))
        elif len(voices) < MAX_VOICES:
            voices.append([])
            ends.append(0)
            last_pitch.append(mean)
            target = len(voices) - 1
        else:
            # into the voice that frees soonest: the fewest ties where its notes are sliced
            target = min(range(len(voices)), key=lambda v: (ends[v], v))
        voices[target].extend(Note(onset, offset - onset, p) for p in pitches)
        ends[target] = max(ends[target], offset)
        last_pitch[target] = mean
    # the voice that sounds higher on average is voice 1 (stems up)
    voices.sort(key=lambda v: -sum(n.pitch for n in v) / len(v))
    return [_slice(v) for v in voices]


def _slice(notes: list[Note]) -> list[_Event]:
    """Notes of one voice -> events; overlapping notes become tied chords at each change."""
    bounds = sorted({t for n in notes for t in (n.onset, n.offset)})
    events = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        sounding = [n for n in notes if n.onset <= start < n.offset]
        if not sounding:
            continue
        pitches = tuple(sorted({n.pitch for n in sounding}))
        tied_in = frozenset(n.pitch for n in sounding if n.onset < start)
        tied_out = frozenset(n.pitch for n in sounding if n.offset > end)
        events.append(_Event(start, end - start, pitches, tied_in, tied_out))
    return events


# -- durations --------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _beat_ticks(meter_: TimeSignature, tpb: int) -> int:
    """Ticks of one beat as music21 counts them (a dotted quarter in 6/8, a half in 2/2)."""
    quarters = meter.TimeSignature(str(meter_)).beatDuration.quarterLength
    beat = Fraction(quarters) * tpb
    return int(beat) if beat.denominator == 1 and beat >= 1 else 1


def _levels(beat: int) -> list[int]:
    """The metric grid below the beat: half beats (thirds of a compound beat), ..., 1 tick."""
    levels = [beat]
    while levels[-1] > 1:
        size = levels[-1]
        # a dotted (compound) beat divides in three, a plain one in two
        levels.append(size // 3 if size % 3 == 0 else max(size // 2, 1))
    return levels


def _plain(ticks: int, tpb: int) -> bool:
    """Whether ``ticks`` is one plain or dotted note value (no tie needed)."""
    q = Fraction(ticks, tpb)
    for undotted in (q, q * 2 / 3):
        if undotted > 0 and undotted.numerator & (undotted.numerator - 1) == 0:
            if undotted.denominator & (undotted.denominator - 1) == 0 and undotted <= 4:
                return True
    return False


def _crossed(begin: int, size: int, step: int) -> list[int]:
    """Multiples of ``step`` strictly inside ``(begin, begin + size)``."""
    first = (begin // step + 1) * step
    return list(range(first, begin + size, step))


def _note_cut(begin: int, size: int, beat: int, levels: list[int], tpb: int) -> int | None:
    """Where to split a note value, or None to write it as one value (see note_values)."""
    boundaries = _crossed(begin, size, beat)
    half = levels[1] if len(levels) > 1 else beat
    if _plain(size, tpb):
        if not boundaries:
            return None
        if begin % beat == 0:
            # a compound beat (a dotted quarter in 6/8) shows: a value from it that crosses
            # the next beat ends on one (a quarter tied to an 8th, not a half)
            compound = beat % 3 == 0
            return boundaries[-1] if compound and (begin + size) % beat else None
        if len(boundaries) == 1 and begin % half == 0 and (begin + size) % half == 0:
            return None  # the 8th-quarter-8th syncopation
        return boundaries[0]
    for step in levels:
        inside = _crossed(begin, size, step)
        if not inside:
            continue
        if begin % step:
            return inside[0]
        plain = [b for b in inside if _plain(b - begin, tpb)]
        return plain[-1] if plain else inside[0]
    return None


def _rest_cut(begin: int, size: int, beat: int, levels: list[int], tpb: int) -> int | None:
    """Where to split a rest, or None to write it as one rest (see note_values)."""
    if begin % beat == 0 and size >= beat:
        for beats in (4, 2, 1):
            span = beats * beat
            if span <= size and begin % span == 0:
                return None if span == size else begin + span
    boundaries = _crossed(begin, size, beat)
    if boundaries:
        return boundaries[0]
    half = levels[1] if len(levels) > 1 else beat
    if _plain(size, tpb) and begin % half == 0:
        return None
    for step in levels[1:]:
        inside = _crossed(begin, size, step)
        if inside:
            return inside[0]
    return None


# -- music21 parts ----------------------------------------------------------------------------


def _part(track: Track, plan: _StaffPlan, layout_: _ScoreLayout, first: bool) -> stream.Part:
    """One staff as a music21 part (a ``PartStaff`` of a grand staff, or a whole part)."""
    score = layout_.score
    tpb = score.ticks_per_beat
    part: stream.Part = stream.PartStaff() if _is_keyboard(track) else stream.Part()
    part.partName = track.name
    part.partAbbreviation = part_abbreviation(track)
    inst = instrument.instrumentFromMidiProgram(track.program)
    inst.instrumentName = instrument_name(track.program)
    # music21's class abbreviations ("Samp" for a synth pad) are not what the page says
    inst.instrumentAbbreviation = None
    inst.partName = track.name
    inst.partAbbreviation = part_abbreviation(track)
    inst.midiChannel = track.channel
    inst.midiProgram = track.program
    # a concert-pitch score: the notes are what sounds, so no transposing instrument (music21
    # would declare a contrabass an octave down without writing its notes an octave up)
    inst.transposition = None
    part.insert(0, inst)

    per_bar = [
        _bar_events(voice, layout_, fill=index == 0) for index, voice in enumerate(plan.voices)
    ]
    if not per_bar:
        per_bar = [_bar_events([], layout_, fill=True)]
    previous_meter = previous_key = None
    flagged: set[int] = set()  # bars with a note shorter than a quarter: the only ones beamed
    for bar in layout_.bars:
        measure = stream.Measure(number=bar.index + 1)
        if bar.index == 0:
            measure.insert(0, plan.clef)
        k = layout_.bar_keys[bar.index]
        if (k.tonic, k.mode) != previous_key:
            measure.insert(0, music21_key(k))
            previous_key = (k.tonic, k.mode)
        if bar.meter != previous_meter:
            measure.insert(0, meter.TimeSignature(str(bar.meter)))
            previous_meter = bar.meter
        # only the voices with notes in this bar are written (the first voice's rests fill an
        # empty bar), numbered from 1, so a bar with one line has no second voice at all
        playing = [
            events[bar.index]
            for events in per_bar
            if any(event.pitches for event in events[bar.index])
        ] or [per_bar[0][bar.index]]
        containers = []
        for number, events in enumerate(playing):
            container: stream.Stream = (
                stream.Voice(id=str(number + 1)) if len(playing) > 1 else measure
            )
            for event in events:
                for tick, element in _elements(event, bar, plan, tpb, hidden_rests=number > 0):
                    container.insert(Fraction(tick - bar.start, tpb), element)
                    if not element.isRest and element.quarterLength < 1:
                        flagged.add(bar.index)
            if container is not measure:
                containers.append(container)
        for container in containers:
            measure.insert(0, container)
        part.append(measure)

    _make_accidentals(part, layout_)
    _make_beams(part, layout_, plan.clef, flagged)
    if first:
        # Tempo belongs to the whole score; music21 and notation programs read it from the
        # first part, and marks on every part would print on every staff.
        measures = list(part.getElementsByClass(stream.Measure))
        for tick, bpm in _metronome_marks(score):
            index, offset = layout_.locate(tick)
            mark = tempo.MetronomeMark(number=bpm, referent=note.Note(type="quarter"))
            mark.placement = "above"
            measures[index].insert(offset, mark)
    return part


def _make_beams(
    part: stream.Part, layout_: _ScoreLayout, staff_clef: clef.Clef, flagged: set[int]
) -> None:
    """music21's beams and the stems of beamed notes, bar by bar, each bar given its meter and
    the staff's clef; only the ``flagged`` bars (indexes of bars with a note shorter than a
    quarter), as music21 beams nothing else.

    ``makeBeams`` looks up each bar's meter, and each beam group's clef (for its stem
    direction), through the part's contexts (``getContextByClass``, which builds a tree of the
    whole part at every call): 60% of building a 3-minute score, and growing with the square
    of the length. Both are known here (one clef a staff), so each bar is beamed on its own
    with its meter and clef inserted for the call; beams and stems are the same (the written
    files are compared with music21's own pass in the tests).
    """
    signatures: dict[TimeSignature, meter.TimeSignature] = {}
    for bar, measure in zip(layout_.bars, part.getElementsByClass(stream.Measure), strict=True):
        if bar.index not in flagged:
            continue
        lent = []
        if measure.timeSignature is None:
            if bar.meter not in signatures:
                signatures[bar.meter] = meter.TimeSignature(str(bar.meter))
            lent.append(signatures[bar.meter])
        if measure.clef is None:
            lent.append(staff_clef)
        for element in lent:
            measure.insert(0, element)
        makeNotation.makeBeams(measure, inPlace=True)
        for element in lent:
            measure.remove(element)


def _bar_events(events: list[_Event], layout_: _ScoreLayout, fill: bool) -> list[list[_Event]]:
    """A voice's events cut at bar lines (ties across them), with rests in the gaps: over the
    whole piece for the first voice, only in bars where it plays for the others."""
    bars = layout_.bars
    result: list[list[_Event]] = [[] for _ in bars]
    for event in events:
        tick = event.onset
        while tick < event.offset:
            index = layout_.score.bar_at(tick)
            end = min(event.offset, bars[index].end)
            result[index].append(
                _Event(
                    tick,
                    end - tick,
                    event.pitches,
                    event.tied_in if tick == event.onset else frozenset(event.pitches),
                    event.tied_out if end == event.offset else frozenset(event.pitches),
                )
            )
            tick = end
    for bar, in_bar in zip(bars, result, strict=True):
        if not in_bar and not fill:
            continue
        rests, now = [], bar.start
        for event in in_bar:
            if event.onset > now:
                rests.append(_Event(now, event.onset - now))
            now = max(now, event.offset)
        if now < bar.end:
            rests.append(_Event(now, bar.end - now))
        in_bar.extend(rests)
        in_bar.sort(key=lambda e: e.onset)
    return result


def _elements(
    event: _Event, bar: Bar, plan: _StaffPlan, tpb: int, hidden_rests: bool = False
) -> list[tuple[int, note.GeneralNote]]:
    """An event inside one bar -> ``(tick, music21 note / chord / rest)``, one per written
    value; a whole empty bar is one bar rest."""
    if not event.pitches and event.duration == bar.length:
        whole = note.Rest(quarterLength=Fraction(bar.length, tpb))
        whole.fullMeasure = True
        return [(event.onset, whole)]
    values = note_values(event.onset - bar.start, event.duration, bar.meter, tpb, not event.pitches)
    elements: list[tuple[int, note.GeneralNote]] = []
    tick = event.onset
    for index, ticks in enumerate(values):
        length = Fraction(ticks, tpb)
        if not event.pitches:
            element: note.GeneralNote = note.Rest(quarterLength=length)
            # said here, as music21 would decide it ("auto": the rest lasts its meter's bar),
            # because its writer would otherwise search each rest's contexts for the meter
            # (a third of its writing time for a 3-minute score, profiled)
            element.fullMeasure = ticks == bar.meter.ticks(tpb)
            # a second voice's rests are not printed, as in most piano scores: the first
            # voice's rhythm is what the reader counts
            element.style.hideObjectOnPrint = hidden_rests
        else:
            first, last = index == 0, index == len(values) - 1
            notes_ = []
            for midi in event.pitches:
                n = note.Note(_spelt(plan, event, midi), quarterLength=length)
                tied_in = not first or midi in event.tied_in
                tied_out = not last or midi in event.tied_out
                if tied_in and tied_out:
                    n.tie = tie.Tie("continue")
                elif tied_in or tied_out:
                    n.tie = tie.Tie("stop" if tied_in else "start")
                notes_.append(n)
            element = notes_[0] if len(notes_) == 1 else chord.Chord(notes_, quarterLength=length)
        elements.append((tick, element))
        tick += ticks
    return elements


def _spelt(plan: _StaffPlan, event: _Event, midi: int) -> pitch.Pitch:
    """The spelling of a pitch of an event (a tied continuation keeps its note's spelling)."""
    for tick in range(event.onset, -1, -1):
        found = plan.spelt.get((tick, midi))
        if found is not None:
            # a copy by name and octave apart: "F#-1" (MIDI 6) reads back as F with "#-"
            return pitch.Pitch(found.name, octave=found.octave)
    raise AssertionError(f"no spelling for {midi} at {event.onset}")


@lru_cache(maxsize=32)
def _signature_alterations(tonic: int, mode: str) -> dict[str, int]:
    """Step -> alteration of a key signature (``{"F": 1}`` in G major); not to be mutated."""
    return {p.step: int(p.alter) for p in music21_key(KeyChange(0, tonic, mode)).alteredPitches}


def _make_accidentals(part: stream.Part, layout_: _ScoreLayout) -> None:
    """Decide which accidentals print, per staff, with the notes of all voices in time order.

    The rule engravers (and MuseScore, which keeps our accidentals as written) apply: an
    accidental holds for the same step and octave to the end of the bar; a note prints one
    where its alteration differs from what is in force there (the key signature, or an earlier
    note of that step and octave in the bar). A note tied over from before prints none and
    does not stand in for one later in the bar (Gould: restate it). Courtesy accidentals, in
    parentheses: at the first such note of a bar whose previous bar ended altered on that step
    and octave, and against the same step with another alteration earlier in the bar or in
    the same chord.

    Our own small layer, because music21's ``Pitch.updateAccidentalDisplay`` gets this wrong
    either way: by default it marks every non-adjacent repeat of an altered note in a bar
    again, and with ``cautionaryNotImmediateRepeat=False`` it drops the natural a D needs in
    E major after a D natural in another octave; ``Measure.makeAccidentals`` also walks voice 1
    before voice 2, not in time order.
    """
    ended_altered: dict[tuple[str, int | None], int] = {}  # alterations at the bar's end
    previous_key = None
    for index, measure in enumerate(part.getElementsByClass(stream.Measure)):
        k = layout_.bar_keys[index]
        if (k.tonic, k.mode) != previous_key:
            ended_altered = {}  # a new key signature restates every step
            previous_key = (k.tonic, k.mode)
        signature = _signature_alterations(k.tonic, k.mode)
        timed = []
        for order, element in enumerate(measure.recurse().notes):
            offset = element.getOffsetInHierarchy(measure)
            members = list(element.notes) if isinstance(element, chord.Chord) else [element]
            for member in members:
                timed.append((offset, order, member, element))
        timed.sort(key=lambda item: (item[0], item[1]))
        in_force: dict[tuple[str, int | None], int] = {}
        seen: dict[str, set[int]] = defaultdict(set)  # step -> alterations sounding in the bar
        for _, _, n, element in timed:
            p = n.pitch
            alter = int(p.alter)
            place = (p.step, p.octave)
            if n.tie is not None and n.tie.type in ("stop", "continue"):
                _show(p, False)
                continue
            current = in_force.get(place, signature.get(p.step, 0))
            clash = isinstance(element, chord.Chord) and any(
                q.step == p.step and int(q.alter) != alter for q in element.pitches
            )
            if alter != current:
                _show(p, True)
            elif (
                (place not in in_force and ended_altered.get(place, current) != alter)
                or seen[p.step] - {alter}
                or clash
            ):
                _show(p, True, courtesy=True)
            else:
                _show(p, False)
            in_force[place] = alter
            seen[p.step].add(alter)
        ended_altered = {
            place: alter for place, alter in in_force.items() if alter != signature.get(place[0], 0)
        }
    # the exporter would otherwise run music21's own accidental pass over these decisions
    part.streamStatus.accidentals = True


def _show(p: pitch.Pitch, shown: bool, courtesy: bool = False) -> None:
    """Make ``p`` print its accidental (a natural if it has none), or print none."""
    if p.accidental is None:
        if not shown:
            return
        p.accidental = pitch.Accidental("natural")
    p.accidental.displayStatus = shown
    if courtesy:
        p.accidental.displayStyle = "parentheses"


def _mark_start(part: stream.Part, text: str) -> None:
    """The instrument's name over the part's first bar: the one place it is printed."""
    first = part.getElementsByClass(stream.Measure).first()
    words = expressions.TextExpression(text)
    words.placement = "above"
    first.insert(0, words)


def _mark_markers(part: stream.Part, markers: Sequence[Marker], layout_: _ScoreLayout) -> None:
    """A rehearsal mark at each marker's tick (over the top staff), with the MIDI marker's
    text; markers at the same tick (a cut that starts a section) share one mark."""
    measures = list(part.getElementsByClass(stream.Measure))
    by_tick: dict[int, list[str]] = defaultdict(list)
    for marker in markers:
        by_tick[max(marker.tick, 0)].append(marker.text)
    for tick, texts in sorted(by_tick.items()):
        index, offset = layout_.locate(tick)
        mark = expressions.RehearsalMark(" / ".join(texts))
        mark.placement = "above"
        measures[index].insert(offset, mark)


def _metronome_marks(score: Score) -> list[tuple[int, int]]:
    """``(tick, rounded quarter-note BPM)`` where the rounded tempo changes."""
    marks: list[tuple[int, int]] = []
    for index, (tick, qpm) in enumerate(score.tempo.tempo_changes()):
        if tick >= score.length:
            break
        bpm = round(qpm)
        if not marks or marks[-1][1] != bpm:
            marks.append((0 if index == 0 else max(tick, 0), bpm))
    return marks
