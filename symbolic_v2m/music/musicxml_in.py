"""Reading an edited MusicXML back by bar and beat (``regenerate --from-musicxml``).

    >>> piece = read_musicxml_edit("edited.musicxml")  # doctest: +SKIP
    >>> [part.name for part in piece.parts]  # doctest: +SKIP
    ['Melody', 'Accompaniment', 'Bass', 'Pad']

music21 parses the file, as written by our export or saved back by a notation program (plain
``.musicxml`` / ``.xml`` or compressed ``.mxl``); the result is the same
:class:`~symbolic_v2m.music.edited.EditedPiece` the MIDI reader gives, which
:func:`symbolic_v2m.music.edited.place_edit` puts on the composition's grid.

What is read, and how:

- **Bars** are the measures of the part with the most of them, in order (measure numbers are
  ignored: a pickup is numbered 0 or 1 depending on the program). A measure lasts as long as its
  time signature says, less music21's padding of an incomplete measure.
- **Notes** by measure and offset in it, every voice and staff of a part, at sounding pitch (a
  transposing instrument's written notes are transposed back); tied notes are joined
  pitch by pitch, since our export writes overlapping notes as chords whose notes are tied one by
  one (music21's ``stripTies`` joins only whole chords). Grace notes, rests and unpitched
  percussion are left out, and so are pitches MIDI cannot play.
- **Parts** by name (``part-name``), GM program and channel (``midi-instrument``). Percussion
  parts are left out: their unpitched notes have no pitch to place, our MusicXML has none, and
  the drums are derived anew on export anyway.
- **Tempo** from the metronome marks, 120 BPM before the first (MusicXML's and MuseScore's
  default). Velocities only where a note states one (``dynamics``); dynamics marks are not
  turned into velocities.

Refused with one :class:`InputError` line: a missing, empty or unreadable file, one larger than
:data:`MAX_FILE_BYTES` (or an ``.mxl`` that unpacks to more), a file that is not MusicXML, a
timewise MusicXML file, one music21 cannot parse, one without parts, and more than
:data:`~symbolic_v2m.music.edited.MAX_BARS` measures.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbolic_v2m.errors import InputError
from symbolic_v2m.music.edited import (
    DRUM_CHANNEL,
    MAX_BARS,
    MUSICXML,
    EditedBar,
    EditedNote,
    EditedPart,
    EditedPiece,
    bar_index,
)
from symbolic_v2m.music.input_file import read_input_file

#: Larger files (or .mxl archives that unpack to more) are refused: music21 builds several Python
#: objects per element, about a second per MiB, and our own export writes a few hundred KiB per
#: minute of music.
MAX_FILE_BYTES = 64 << 20
#: The most beats (and the smallest note value) a time signature may have. music21 builds a beat
#: hierarchy for every meter it reads: ``<beats>99999999</beats>`` took it 100 s and 9 GB before
#: it gave up, so absurd meters are refused before music21 sees them.
MAX_METER_BEATS = 64
MAX_BEAT_TYPE = 64
_METER_FIELD = re.compile(rb"<(beats|beat-type)(?:\s[^>]*)?>([^<]*)</\1>")


def read_musicxml_edit(path: Path | str) -> EditedPiece:
    """The MusicXML at ``path`` by musical position (see the module doc).

    Raises:
        InputError: the file is missing, unreadable, or not a MusicXML file we can use; the
            message names the file and the problem.
    """
    path = Path(path)
    data = _xml_bytes(path)
    _check_meters(data, path)
    score = _parse(data, path)
    parts = list(score.parts)
    if not parts:
        raise InputError(f"{path}: a MusicXML file without parts (no music to read)")
    try:
        # MusicXML writes a transposing instrument's notes at written pitch (a clarinet in B
        # flat a tone above what sounds); the music is what sounds
        for part in parts:
            part.toSoundingPitch(inPlace=True)
        bars = _bars(max(parts, key=lambda p: len(p.getElementsByClass("Measure"))), path)
        tempo, has_tempo = _tempo(parts, bars)
        edited = [_part(part, index, bars) for index, part in enumerate(parts, 1)]
        edited = [part for part in edited if not part.is_drum]
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - music21 objects from a strange file; still the
        # file's problem, not a crash
        raise InputError(
            f"{path}: not a MusicXML file we can read ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    return EditedPiece(path, MUSICXML, bars, tempo, has_tempo, tuple(edited))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _xml_bytes(path: Path) -> bytes:
    """The file's MusicXML text, from the file itself or from inside a compressed .mxl (by its
    content, whatever its name), checked for size and kind."""
    data = read_input_file(path, "MusicXML", MAX_FILE_BYTES)
    if data[:4] == b"PK\x03\x04":
        data = _unpacked(path)
    head = data[: 64 << 10]
    if b"<score-timewise" in head:
        raise InputError(
            f"{path}: a timewise MusicXML file; save it as (partwise) MusicXML, as notation "
            "programs do by default"
        )
    if b"<score-partwise" not in head:
        raise InputError(
            f"{path}: not a MusicXML file (no <score-partwise> element at its start); export "
            "MusicXML (.musicxml or .mxl) from the notation program"
        )
    return data


def _check_meters(data: bytes, path: Path) -> None:
    """Refuse a time signature music21 would choke on (see :data:`MAX_METER_BEATS`). Additive
    meters (``<beats>3+2</beats>``) are summed, as music21 does."""
    for match in _METER_FIELD.finditer(data):
        field, text = match.group(1).decode(), match.group(2).decode("utf-8", "replace").strip()
        terms = text.split("+")
        if not all(term.strip().isdigit() for term in terms):
            raise InputError(
                f"{path}: a time signature with <{field}>{text[:20]}</{field}>: not a whole number"
            )
        value = sum(int(term) for term in terms)
        limit = MAX_METER_BEATS if field == "beats" else MAX_BEAT_TYPE
        if not 1 <= value <= limit:
            raise InputError(
                f"{path}: a time signature with <{field}>{text[:20]}</{field}>: a meter needs "
                f"1 to {limit} there"
            )


def _unpacked(path: Path) -> bytes:
    """The score inside an .mxl: the root file its container names, else its first .musicxml
    or .xml outside META-INF; refused when damaged or when it unpacks to more than the limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            unpacked = sum(info.file_size for info in infos.values())
            if unpacked > MAX_FILE_BYTES:
                raise InputError(
                    f"{path}: unpacks to {unpacked / (1 << 20):.0f} MiB, too large for a "
                    f"MusicXML file here (the limit is {MAX_FILE_BYTES >> 20} MiB)"
                )
            name = None
            if "META-INF/container.xml" in infos:
                container = ET.fromstring(archive.read("META-INF/container.xml"))
                name = next((e.get("full-path") for e in container.iter("rootfile")), None)
            if name not in infos:
                name = next(
                    (
                        n
                        for n in infos
                        if not n.startswith("META-INF/") and n.endswith((".musicxml", ".xml"))
                    ),
                    None,
                )
            if name is None:
                raise InputError(f"{path}: a compressed MusicXML (.mxl) file without a score")
            return archive.read(name)
    except (zipfile.BadZipFile, ET.ParseError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: a damaged compressed MusicXML (.mxl) file ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unknown compression
        raise InputError(f"{path}: a compressed MusicXML (.mxl) we cannot unpack ({exc})") from None


def _parse(data: bytes, path: Path):  # -> music21.stream.Score
    # music21's importer itself: its converter.parse would also look for (and store) a pickled
    # copy of the file in its scratch folder, and would tell an .mxl by its name
    from music21.musicxml.xmlToM21 import MusicXMLImporter

    importer = MusicXMLImporter()
    importer.xmlText = data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # music21 warns about what it skips
            importer.parseXMLText()
    except Exception as exc:  # noqa: BLE001 - music21 and the XML parser raise many types
        raise InputError(
            f"{path}: not a readable MusicXML file ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    return importer.stream


def _fraction(value: Any) -> Fraction:
    """A music21 offset or length (a float for binary fractions, a Fraction for tuplets)."""
    return Fraction(value).limit_denominator(1 << 16)


def _bars(part, path: Path) -> tuple[EditedBar, ...]:
    from music21 import meter

    bars: list[EditedBar] = []
    current = meter.TimeSignature("4/4")  # MusicXML has no default; 4/4 is every program's
    start = Fraction(0)
    for measure in part.getElementsByClass("Measure"):
        if measure.timeSignature is not None:
            current = measure.timeSignature
        full = _fraction(current.barDuration.quarterLength)
        length = full - _fraction(measure.paddingLeft) - _fraction(measure.paddingRight)
        if length <= 0:
            length = full
        bars.append(EditedBar(start, length, (int(current.numerator), int(current.denominator))))
        if len(bars) > MAX_BARS:
            raise InputError(f"{path}: more than {MAX_BARS} measures: not a soundtrack's score")
        start += length
    if not bars:
        raise InputError(f"{path}: a MusicXML file without measures (no music to read)")
    return tuple(bars)


def _tempo(parts, bars: tuple[EditedBar, ...]) -> tuple[tuple[tuple[Fraction, float], ...], bool]:
    """Metronome marks ``(quarter notes from the start, quarter-note BPM)``, the first part's
    where parts disagree; 120 BPM before the first."""
    from music21 import tempo

    marks: dict[Fraction, float] = {}
    for part in parts:
        for index, measure in enumerate(part.getElementsByClass("Measure")):
            if index >= len(bars):
                break
            for mark in measure.recurse().getElementsByClass(tempo.MetronomeMark):
                qpm = mark.getQuarterBPM()
                if qpm and qpm > 0:
                    at = bars[index].start + _fraction(mark.getOffsetInHierarchy(measure))
                    marks.setdefault(at, float(qpm))
    has_tempo = bool(marks)
    marks.setdefault(Fraction(0), 120.0)
    return tuple(sorted(marks.items())), has_tempo


def _part(part, number: int, bars: tuple[EditedBar, ...]) -> EditedPart:
    from music21 import chord, instrument, note

    name = (part.partName or "").strip()
    inst = part.getInstrument(returnDefault=False)
    program = getattr(inst, "midiProgram", None)
    channel = getattr(inst, "midiChannel", None)
    is_drum = channel == DRUM_CHANNEL or isinstance(inst, instrument.UnpitchedPercussion)
    # (position, order, pitch, length, tie type, velocity) of every pitched note
    sounding: list[tuple[Fraction, int, int, Fraction, str | None, int | None]] = []
    for index, measure in enumerate(part.getElementsByClass("Measure")):
        if index >= len(bars):
            break
        for element in measure.recurse().notes:
            if element.duration.isGrace or not isinstance(element, note.Note | chord.Chord):
                continue  # grace notes take no time; unpitched percussion has no pitch
            at = bars[index].start + _fraction(element.getOffsetInHierarchy(measure))
            length = _fraction(element.duration.quarterLength)
            members = element.notes if isinstance(element, chord.Chord) else (element,)
            for member in members:
                if not 0 <= member.pitch.midi <= 127:
                    continue  # beyond MIDI (a corrupt octave or transposition): nothing to play
                tie = member.tie  # a chord's own tie is one of its notes' (music21), not each's
                scalar = member.volume.velocityScalar
                velocity = None if scalar is None else max(1, min(127, round(scalar * 127)))
                order = len(sounding)
                sounding.append((at, order, member.pitch.midi, length, tie and tie.type, velocity))
    label = f"part {number}" + (f" {name!r}" if name else "")
    return EditedPart(
        label=label,
        name=name,
        program=None if program is None or is_drum else int(program),
        channel=None if channel is None else int(channel),
        is_drum=is_drum,
        notes=_joined(sounding, bars),
    )


def _joined(sounding: list, bars: tuple[EditedBar, ...]) -> tuple[EditedNote, ...]:
    """Tied notes joined, pitch by pitch: a note whose tie stops or continues extends the
    sounding note of its pitch that ends where it starts; any other note starts a new one."""
    open_notes: dict[int, list] = {}  # pitch -> [start, end, velocity]
    done: list[tuple[Fraction, Fraction, int, int | None]] = []
    for at, _, pitch, length, tie, velocity in sorted(sounding, key=lambda s: (s[0], s[1])):
        held = open_notes.get(pitch)
        if held is not None and tie in ("stop", "continue") and held[1] == at:
            held[1] = at + length
        else:
            if held is not None:
                done.append((held[0], held[1], pitch, held[2]))
            held = open_notes[pitch] = [at, at + length, velocity]
        if tie in (None, "stop"):
            done.append((held[0], held[1], pitch, held[2]))
            del open_notes[pitch]
    done += [(start, end, pitch, v) for pitch, (start, end, v) in open_notes.items()]
    notes = []
    for start, end, pitch, velocity in sorted(done, key=lambda d: (d[0], d[2])):
        index = bar_index(bars, start)
        notes.append(EditedNote(index, start - bars[index].start, end - start, pitch, velocity))
    return tuple(notes)
