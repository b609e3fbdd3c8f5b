"""Reading MIDI files: any a user gives us, and a DAW-edited one back onto a composition's grid.

    >>> read_midi("song.mid").midi.instruments  # doctest: +SKIP
    >>> read_edited_midi("edited.mid", score, project.tracks, 0.9).parts["melody"]  # doctest: +SKIP

The checks below are the one door for MIDI files from outside (``evaluate`` through
:func:`read_midi`, ``regenerate --from-midi`` through :func:`read_midi_edit`): they look at the file
before pretty_midi or our own reading sees it, so that a corrupt or absurd file is a
one-line :class:`InputError` naming the file and the problem, not a traceback or minutes of work.
Refused: an empty file, one that is not a Standard MIDI File (or is truncated or otherwise
unparseable), a type-2 file (independent sequences, no single timeline), SMPTE time division, a
tick resolution of 0, an event absurdly late (a corrupt delta time: more than
:data:`MAX_QUARTERS` quarter notes or :data:`MAX_TICKS` ticks), a tempo of 0, a time signature
that is no meter, a file larger than :data:`MAX_FILE_BYTES`. Handled: a type-0 file (pretty_midi
splits it into instruments by channel and program), no tempo event (120 BPM, the MIDI default),
no notes (nothing to read; :func:`read_edited_midi` refuses such a file, an evaluation gets an
empty piece), thousands of tracks (up to 32,767, the format's practical limit), note-offs without a
note-on and notes never ended (ignored, as pretty_midi does), tempo and time-signature events on
tracks other than the first (moved to the first, where pretty_midi looks for them), unknown chunk
types (skipped, as the standard says).

:func:`read_midi_edit` reads a DAW-edited file by musical position instead: the notes of each
track and channel by bar and beat, from the file's own ticks and time signatures (its tempo map
only says how far it drifts from the composition's), as an
:class:`~symbolic_v2m.music.edited.EditedPiece`; :func:`read_edited_midi` places that on the
composition's grid (:func:`symbolic_v2m.music.edited.place_edit`: tracks matched by name, program
and channel, the bars and the tempo checked against the composition's).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbolic_v2m.errors import InputError
from symbolic_v2m.music.edited import (
    DRUM_CHANNEL,
    MAX_BARS,
    MIDI,
    EditedBar,
    EditedNote,
    EditedPart,
    EditedPiece,
    ImportedParts,
    bar_index,
    place_edit,
)
from symbolic_v2m.music.input_file import read_input_file
from symbolic_v2m.music.score import Note, Score

#: Larger files are refused: a soundtrack's MIDI is kilobytes, and mido builds a Python object
#: per event (about 3 s per MiB on one core), so a huge file would take minutes and gigabytes.
MAX_FILE_BYTES = 8 << 20
#: The latest event we accept, in quarter notes (about 7 hours at 120 BPM) and in ticks
#: (pretty_midi's own limit: it keeps a table entry per tick). Anything later is a corrupt delta
#: time, and pretty_midi would list every beat up to it.
MAX_QUARTERS = 50_000
MAX_TICKS = 10_000_000
#: The largest time-signature denominator we accept (a 64th note); the file format allows 2**255,
#: which would make pretty_midi list beats without end.
MAX_DENOMINATOR = 64
#: mido reads the header's track count as a signed 16-bit number.
MAX_TRACKS = 32767
#: Events that describe the whole piece (pretty_midi reads them from the first track only).
CONDUCTOR = ("set_tempo", "time_signature", "key_signature")


@dataclass(frozen=True)
class MidiData:
    """A MIDI file as pretty_midi reads it, with what :func:`read_midi` learned on the way.

    Attributes:
        midi: the ``pretty_midi.PrettyMIDI``.
        end: the time (seconds) of the file's last event, end-of-track included: the piece's end
            with its trailing rests (pretty_midi's own end stops at the last note).
        has_tempo: whether the file has a tempo event (without one, MIDI means 120 BPM).
        empty_tracks: names of the tracks that have a name but no notes (pretty_midi makes no
            instrument for them, but an emptied part is an edit too).
    """

    midi: Any
    end: float
    has_tempo: bool
    empty_tracks: tuple[str, ...]


def read_midi(path: Path | str) -> MidiData:
    """Read the Standard MIDI File at ``path`` (see the module doc for what is refused and how
    the rest is handled).

    Raises:
        InputError: the file is missing, unreadable, or not a MIDI file we can use; the message
            names the file and the problem.
    """
    path = Path(path)
    midi_file, max_tick, has_tempo, empty = _load(path)
    from symbolic_v2m.quiet_import import quiet_import

    pretty_midi = quiet_import("pretty_midi")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # we moved the conductor events
            pm = pretty_midi.PrettyMIDI(mido_object=midi_file)
    except Exception as exc:  # noqa: BLE001 - the checks above should leave nothing, but a
        # file pretty_midi cannot take is still the file's problem, not a crash
        raise InputError(
            f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})"
        ) from None
    return MidiData(pm, float(pm.tick_to_time(max_tick)), has_tempo, empty)


def _load(path: Path):  # -> (mido.MidiFile, int, bool, tuple[str, ...])
    """The file parsed and checked (see :func:`read_midi`), conductor events on the first
    track: the mido file, its latest tick, whether it has a tempo event, its empty named tracks."""
    data = read_input_file(path, "MIDI", MAX_FILE_BYTES)
    midi_file = _parse(data, path)
    max_tick, has_tempo, empty = _check_events(midi_file, path)
    return midi_file, max_tick, has_tempo, empty


def _track_chunks(data: bytes, path: Path) -> tuple[int, int, list[bytes]]:
    """The file type, the ticks per quarter note and the track chunks of the file, checked.
    Chunks of other types are left out (the standard says to skip them; mido stops at them)."""
    if data[:4] != b"MThd":
        if data[:4] == b"RIFF":
            raise InputError(
                f"{path}: not a readable MIDI file (a RIFF .rmi wrapper; export a standard MIDI "
                "file, .mid)"
            )
        raise InputError(f"{path}: not a readable MIDI file (it does not start with 'MThd')")
    if len(data) < 14:
        raise InputError(f"{path}: truncated: the MIDI header is cut short")
    header_size, fmt, n_tracks, division = struct.unpack(">LHHH", data[4:14])
    if header_size < 6:
        raise InputError(f"{path}: corrupt MIDI header (its length is {header_size}, at least 6)")
    if fmt > 2:
        raise InputError(f"{path}: unknown MIDI file type {fmt} (the types are 0, 1 and 2)")
    if fmt == 2:
        raise InputError(
            f"{path}: a type-2 MIDI file (independent sequences without a common timeline) is "
            "not supported; export it as type 1"
        )
    if division & 0x8000:
        raise InputError(
            f"{path}: SMPTE time division (frames per second, not ticks per quarter note) is not "
            "supported; export with ticks per quarter note"
        )
    if division == 0:
        raise InputError(f"{path}: tick resolution of 0 ticks per quarter note (corrupt header)")
    if n_tracks == 0:
        raise InputError(f"{path}: the MIDI header announces no tracks")
    if n_tracks > MAX_TRACKS:
        raise InputError(f"{path}: {n_tracks} tracks announced (the limit is {MAX_TRACKS})")
    chunks: list[bytes] = []
    offset = 8 + header_size
    while len(chunks) < n_tracks and len(data) - offset >= 8:
        kind, length = struct.unpack(">4sL", data[offset : offset + 8])
        if offset + 8 + length > len(data):
            raise InputError(
                f"{path}: truncated: track {len(chunks) + 1} should hold {length} bytes, the "
                f"file ends after {len(data) - offset - 8}"
            )
        if kind == b"MTrk":
            chunks.append(data[offset : offset + 8 + length])
        offset += 8 + length
    if len(chunks) < n_tracks:
        raise InputError(
            f"{path}: truncated: the header announces {n_tracks} track(s), the file holds "
            f"{len(chunks)}"
        )
    return fmt, division, chunks


def _parse(data: bytes, path: Path):  # -> mido.MidiFile
    """The tracks parsed one by one, each on its own, so that an event that runs past its
    chunk's end is an error (mido would read on into the next chunk)."""
    from symbolic_v2m.quiet_import import quiet_import

    mido = quiet_import("mido")
    fmt, division, chunks = _track_chunks(data, path)
    single = b"MThd" + struct.pack(">LHHH", 6, 0, 1, division)
    midi_file = mido.MidiFile(type=fmt, ticks_per_beat=division)
    for number, chunk in enumerate(chunks, 1):
        try:
            midi_file.tracks.append(mido.MidiFile(file=io.BytesIO(single + chunk)).tracks[0])
        except EOFError:
            raise InputError(
                f"{path}: track {number}: corrupt (an event runs past the end of the track)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - mido raises many types for bad bytes
            raise InputError(
                f"{path}: track {number}: corrupt ({type(exc).__name__}: {exc})"
            ) from None
    return midi_file


def _check_events(midi_file, path: Path) -> tuple[int, bool, tuple[str, ...]]:
    """Check every event's time and the conductor events, move conductor events from later
    tracks to the first one, and give the latest tick, whether there is a tempo event and the
    names of named tracks without notes. Times stay deltas (pretty_midi wants them so)."""
    tpb = midi_file.ticks_per_beat
    limit = min(MAX_TICKS, MAX_QUARTERS * tpb)
    max_tick, has_tempo = 0, False
    moved: list[tuple[int, Any]] = []
    empty: list[str] = []
    for number, track in enumerate(midi_file.tracks, 1):
        tick, kept, name, notes = 0, [], "", False
        for msg in track:
            tick += msg.time
            if tick > limit:
                raise InputError(
                    f"{path}: track {number}: an event at tick {tick} ({tick / tpb:.0f} quarter "
                    f"notes in) is absurdly late (the limit is {limit} ticks): a corrupt delta time"
                )
            if msg.type == "set_tempo":
                has_tempo = True
                if msg.tempo == 0:
                    raise InputError(
                        f"{path}: track {number}: a tempo of 0 microseconds per quarter note at "
                        f"tick {tick} (corrupt)"
                    )
            elif msg.type == "time_signature" and not (
                msg.numerator >= 1 and msg.denominator <= MAX_DENOMINATOR
            ):
                raise InputError(
                    f"{path}: track {number}: time signature {msg.numerator}/{msg.denominator} "
                    f"at tick {tick} is not a meter"
                )
            elif msg.type == "track_name":
                name = name or msg.name
            elif msg.type == "note_on" and msg.velocity > 0:
                notes = True
            if number > 1 and msg.type in CONDUCTOR:
                moved.append((tick, msg))
            else:
                kept.append((tick, msg))
        max_tick = max(max_tick, tick)
        if name.strip() and not notes:
            empty.append(name)
        if number > 1 and len(kept) < len(track):
            track[:] = _deltas(kept)
        if not track:  # pretty_midi cannot take an empty track (max() of nothing)
            track.append(_end_of_track())
    if moved:
        first = midi_file.tracks[0]
        absolute, tick = [], 0
        for msg in first:
            tick += msg.time
            absolute.append((tick, msg))
        # a stable sort keeps each track's own order at equal ticks
        first[:] = _deltas(sorted(absolute + moved, key=lambda pair: pair[0]))
    return max_tick, has_tempo, tuple(empty)


def _deltas(timed: list[tuple[int, Any]]) -> list[Any]:
    out, last = [], 0
    for tick, msg in timed:
        out.append(msg.copy(time=tick - last))
        last = tick
    return out


def _end_of_track():
    from symbolic_v2m.quiet_import import quiet_import

    return quiet_import("mido").MetaMessage("end_of_track", time=0)


def read_edited_midi(
    path: Path | str,
    score: Score,
    tracks: Sequence[Mapping[str, Any]],
    velocity_scale: float = 1.0,
    composed: Mapping[str, Sequence[Note]] | None = None,
) -> ImportedParts:
    """The parts of the edited MIDI at ``path`` on ``score``'s grid: :func:`read_midi_edit`,
    then :func:`symbolic_v2m.music.edited.place_edit` (see there for the arguments).

    Raises:
        InputError: the file is not a MIDI file we can read (:func:`read_midi`), no track in it
            matches the melody or the accompaniment, its bars differ from the composition's, or
            its tempo map drifts from it by more than rounding.
    """
    return place_edit(read_midi_edit(path), score, tracks, velocity_scale, composed)


#: Messages that belong to a channel (a track without notes is known by its channel).
_CHANNEL_MESSAGES = ("program_change", "control_change", "pitchwheel", "aftertouch", "polytouch")


def read_midi_edit(path: Path | str) -> EditedPiece:
    """The MIDI at ``path`` by musical position: bars from its time signatures (4/4 until the
    first, as MIDI says; a time signature in mid-bar cuts that bar short), its tempo marks, and
    a part per track and channel with its notes by bar and beat.

    A part is named after its track when the track plays on one channel only (a type-0 file's
    one track names nothing); its program is the first program change on its channel, in its
    track or else anywhere (None when there is none). Notes pair as pretty_midi pairs them: a
    note-off ends every sounding note of its pitch on its channel that started earlier, and
    notes never ended are left out. The conductor track (no notes, tempo or meter events) is
    no part.

    Raises:
        InputError: as :func:`read_midi`, or the file holds more than
            :data:`~symbolic_v2m.music.edited.MAX_BARS` bars.
    """
    path = Path(path)
    midi_file, max_tick, has_tempo, _ = _load(path)
    tpb = midi_file.ticks_per_beat
    meters: dict[int, tuple[int, int]] = {}
    tempi: dict[int, float] = {}
    tick = 0
    for msg in midi_file.tracks[0]:  # _check_events moved every conductor event here
        tick += msg.time
        if msg.type == "time_signature":
            meters[tick] = (msg.numerator, msg.denominator)
        elif msg.type == "set_tempo":
            tempi[tick] = 60_000_000 / msg.tempo
    bars = _bars(meters, max(max_tick, 1), tpb, path)
    tempo = [(Fraction(t, tpb), qpm) for t, qpm in sorted(tempi.items())]
    if not tempo or tempo[0][0] != 0:
        tempo.insert(0, (Fraction(0), 120.0))  # MIDI's tempo until the first tempo event
    tracks = [_track_notes(track) for track in midi_file.tracks]
    first_program: dict[int, int] = {}
    for track in tracks:
        for channel, program in track["programs"].items():
            first_program.setdefault(channel, program)
    parts = []
    for number, track in enumerate(tracks, 1):
        parts.extend(_track_parts(number, track, first_program, bars, tpb))
    return EditedPiece(path, MIDI, bars, tuple(tempo), has_tempo, tuple(parts))


def _bars(
    meters: dict[int, tuple[int, int]], end: int, tpb: int, path: Path
) -> tuple[EditedBar, ...]:
    """The bars up to tick ``end`` under the time signatures ``{tick: (numerator,
    denominator)}``."""
    changes = dict(meters)
    changes.setdefault(0, (4, 4))
    points = sorted(changes)
    bars: list[EditedBar] = []
    last = Fraction(end, tpb)
    for index, tick in enumerate(points):
        meter = changes[tick]
        length = Fraction(4 * meter[0], meter[1])
        start = Fraction(tick, tpb)
        stop = Fraction(points[index + 1], tpb) if index + 1 < len(points) else None
        while start < (last if stop is None else stop):
            span = length if stop is None else min(length, stop - start)
            bars.append(EditedBar(start, span, meter))
            if len(bars) > MAX_BARS:
                raise InputError(
                    f"{path}: more than {MAX_BARS} bars (time signature {meter[0]}/{meter[1]} at "
                    f"tick {tick}): not a soundtrack's MIDI file"
                )
            start += span
    if not bars:  # a file that ends at tick 0 still has its first bar
        meter = changes[0]
        bars.append(EditedBar(Fraction(0), Fraction(4 * meter[0], meter[1]), meter))
    return tuple(bars)


def _track_notes(track) -> dict[str, Any]:
    """A track's notes ``(start, end, channel, pitch, velocity)`` in ticks, its name, its
    program per channel, the channels its other channel messages use, and whether it holds
    conductor events."""
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    notes: list[tuple[int, int, int, int, int]] = []
    programs: dict[int, int] = {}
    channels: set[int] = set()
    name, conductor, tick = "", False, 0
    for msg in track:
        tick += msg.time
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
        elif kind in ("note_on", "note_off"):
            key = (msg.channel, msg.note)
            sounding = open_notes.get(key)
            if not sounding:
                continue
            ending = [(start, v) for start, v in sounding if start != tick]
            staying = [(start, v) for start, v in sounding if start == tick]
            for start, velocity in ending:
                notes.append((start, tick, msg.channel, msg.note, velocity))
            if ending and staying:
                open_notes[key] = staying
            else:  # as pretty_midi: a note ended where it starts is dropped
                del open_notes[key]
        elif kind == "track_name":
            name = name or msg.name
        elif kind in CONDUCTOR:
            conductor = True
        elif kind in _CHANNEL_MESSAGES:
            channels.add(msg.channel)
            if kind == "program_change":
                programs.setdefault(msg.channel, msg.program)
    return {
        "notes": notes,
        "name": name,
        "programs": programs,
        "channels": channels,
        "conductor": conductor,
    }


def _track_parts(
    number: int,
    track: dict[str, Any],
    first_program: dict[int, int],
    bars: tuple[EditedBar, ...],
    tpb: int,
) -> list[EditedPart]:
    """The parts of one track: one per channel its notes use, or, for a track without notes
    (its part was emptied), one on its only channel or by its name alone."""
    by_channel: dict[int, list[EditedNote]] = {}
    for start, end, channel, pitch, velocity in sorted(track["notes"]):
        position = Fraction(start, tpb)
        index = bar_index(bars, position)
        note = EditedNote(
            index, position - bars[index].start, Fraction(end - start, tpb), pitch, velocity
        )
        by_channel.setdefault(channel, []).append(note)
    name = track["name"].strip()
    if not by_channel:
        if track["conductor"]:
            return []
        channels = sorted(track["channels"])
        if len(channels) != 1 and not name:
            return []  # nothing to know it by
        by_channel = {channels[0] if len(channels) == 1 else -1: []}
    one = len(by_channel) == 1
    parts = []
    for channel, notes in sorted(by_channel.items()):
        label = f"track {number}" + (f" {name!r}" if name else "")
        if not one:
            label += f" channel {channel + 1}"
        known = channel if channel >= 0 else None
        program = track["programs"].get(channel, first_program.get(channel))
        parts.append(
            EditedPart(
                label=label,
                name=name if one else "",
                program=None if known is None or known == DRUM_CHANNEL else program,
                channel=known,
                is_drum=known == DRUM_CHANNEL,
                notes=tuple(notes),
            )
        )
    return parts
