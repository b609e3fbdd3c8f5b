"""Arrangement -> MusicXML with music21, for editing the music in a notation program.

    >>> write_musicxml(arrangement, Path("clip.musicxml"))   # doctest: +SKIP

One part per pitched track (part name = track name, instrument from its GM program), the meters,
the keys and the tempo as metronome marks; music21's ``makeNotation`` splits notes at bar lines
into tied notes and beams them.

Decisions:

- **Drum tracks are left out.** music21 writes a percussion part with one instrument for the
  whole part: every hit gets the same sound and, unless placed by hand, the same staff line, so
  a notation program would show and play a wrong drum part. The drums are derived by rule from
  the visual accents and are complete in the MIDI file, which MuseScore imports as a drum set;
  the MusicXML is for the composed, pitched parts.
- **Overlapping notes of a part become chords** (music21's ``chordify``, which ties what it
  splits): a part is one voice, so an accompaniment note that rings over the next chord is
  written as tied notes rather than as a second voice.
- **Metronome marks only where the rounded tempo changes.** A measured tempo map (POP909: an
  anchor on every beat) changes tempo by fractions of a BPM on every beat; a mark per beat would
  bury the score. The MIDI file keeps the exact tempo map.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

from music21 import instrument, key, metadata, meter, note, stream, tempo

from symbolic_v2m.arrangement import Arrangement, Track
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.export.midi import MAJOR_KEY_NAMES, MINOR_KEY_NAMES
from symbolic_v2m.music.score import KeyChange, Score

log = logging.getLogger(__name__)


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
    result = stream.Score()
    result.metadata = metadata.Metadata(title=arrangement.title)
    if skipped:
        log.debug("MusicXML: drum tracks left out (they are in the MIDI file): %s", skipped)
    for index, track in enumerate(pitched):
        part = _part(track, score, with_tempo=index == 0)
        result.insert(0, part)
    return result


def write_musicxml(arrangement: Arrangement, path: Path) -> None:
    """Write ``arrangement``'s pitched tracks as MusicXML at ``path``, atomically.

    A ``.mxl`` suffix gives compressed MusicXML (music21 picks the format from the name).

    Raises:
        ValueError: the arrangement has no pitched track.
    """
    m21 = arrangement_to_music21(arrangement)
    with atomic_output(Path(path)) as tmp:
        m21.write("musicxml", fp=tmp)


def music21_key(change: KeyChange) -> key.Key:
    """The music21 key of a key change, spelt as in the MIDI file (``Bb`` major, ``F#`` minor)."""
    if change.mode == "major":
        name = MAJOR_KEY_NAMES[change.tonic]
    else:
        name = MINOR_KEY_NAMES[change.tonic].removesuffix("m")
    return key.Key(name.replace("b", "-"), change.mode)


def _quarters(ticks: int, score: Score) -> Fraction:
    return Fraction(ticks, score.ticks_per_beat)


def _part(track: Track, score: Score, with_tempo: bool) -> stream.Part:
    voice = stream.Part()
    for n in track.notes:
        m21_note = note.Note(n.pitch)
        m21_note.quarterLength = _quarters(n.duration, score)
        voice.insert(_quarters(n.onset, score), m21_note)
    # chordify is most of the export's time, and a monophonic part (melody, bass) needs none
    part = voice.chordify() if _overlapping(track) else voice

    part.partName = track.name
    inst = instrument.instrumentFromMidiProgram(track.program)
    inst.partName = track.name
    inst.midiChannel = track.channel
    part.insert(0, inst)

    previous = None
    for bar in score.bars():
        if bar.meter != previous:
            part.insert(_quarters(bar.start, score), meter.TimeSignature(str(bar.meter)))
            previous = bar.meter

    last_key = None
    for index, change in enumerate(sorted(score.keys, key=lambda k: k.onset)):
        if (change.tonic, change.mode) != last_key:
            # the first key covers the opening, wherever it was written
            offset = 0 if index == 0 else _quarters(change.onset, score)
            part.insert(offset, music21_key(change))
            last_key = (change.tonic, change.mode)

    if with_tempo:
        # Tempo belongs to the whole score; music21 and notation programs read it from the
        # first part, and marks on every part would print on every staff.
        for offset, bpm in _metronome_marks(score):
            part.insert(offset, tempo.MetronomeMark(number=bpm, referent=note.Note(type="quarter")))

    # rests up to the score's end, so every part lasts the whole score
    part.makeRests(
        refStreamOrTimeRange=[0, _quarters(score.length, score)],
        fillGaps=True,
        timeRangeFromBarDuration=False,
        inPlace=True,
    )
    return part.makeNotation()


def _overlapping(track: Track) -> bool:
    """Whether any two notes sound at once (then some pair adjacent in onset order does)."""
    ordered = sorted(track.notes, key=lambda n: n.onset)
    return any(b.onset < a.offset for a, b in zip(ordered, ordered[1:], strict=False))


def _metronome_marks(score: Score) -> list[tuple[Fraction, int]]:
    """``(offset in quarters, rounded quarter-note BPM)`` where the rounded tempo changes."""
    marks: list[tuple[Fraction, int]] = []
    for index, (tick, qpm) in enumerate(score.tempo.tempo_changes()):
        if tick >= score.length:
            break
        bpm = round(qpm)
        if not marks or marks[-1][1] != bpm:
            marks.append((Fraction(0) if index == 0 else _quarters(max(tick, 0), score), bpm))
    return marks
