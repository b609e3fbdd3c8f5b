"""Reading MIDI files: any a user gives us, and a DAW-edited one back onto a composition's grid.

:func:`read_midi` is the one door for MIDI files from outside (``regenerate --from-midi`` and
``evaluate``): it checks the file before pretty_midi sees it, so that a corrupt or absurd file is a
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

:func:`read_edited_midi` then matches tracks to roles by name first (``Melody``,
``Accompaniment``, ...), then, for a role whose track was renamed, by General MIDI program; tracks
that match no role are ignored (with a warning, the caller's to print). Times come from the file's
own tempo map and are placed on the composition's tick grid through the composition's tempo map,
after checking that the two agree: a DAW edit that changed the tempo would make the music drift
from the video, and that is an error, not something to paper over.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symbolic_v2m.errors import InputError
from symbolic_v2m.music.score import Note, TempoMap
from symbolic_v2m.music.vocab import DURATIONS, stage_spec

#: How far (seconds) a beat of the edited file may sit from the composition's before we refuse.
BEAT_TOLERANCE = 0.005
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
    if not path.is_file():
        raise InputError(f"{path}: MIDI file not found")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file (0 bytes), not a MIDI file")
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{path}: {size / (1 << 20):.1f} MiB is too large for a MIDI file here "
            f"(the limit is {MAX_FILE_BYTES >> 20} MiB)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    midi_file = _parse(data, path)
    max_tick, has_tempo, empty = _check_events(midi_file, path)
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


@dataclass(frozen=True)
class ImportedParts:
    """Notes per role read from an edited MIDI, and what was ignored."""

    parts: dict[str, tuple[Note, ...]]
    ignored: tuple[str, ...]


def read_edited_midi(
    path, tempo: TempoMap, length: int, tracks: list[dict], velocity_scale: float = 1.0
) -> ImportedParts:
    """Notes of the roles in ``tracks`` (``{"name", "role", "program"}`` dicts, as the project
    file records them) from the MIDI at ``path``, on ``tempo``'s grid (see the module doc).

    A track of a role that is there by name but has no notes makes that part empty (the notes
    were deleted in the DAW); a role without a track keeps its composed notes.
    ``velocity_scale`` is the dynamics factor the arrangement applied on export; it is undone so
    that an untouched note reads back as it was composed.

    Raises:
        InputError: the file is not a MIDI file we can read (:func:`read_midi`), its tempo map
            differs from the composition's, or no track in it matches a part.
    """
    data = read_midi(path)
    pm = data.midi
    _check_tempo(pm, tempo, length, path, data.has_tempo)
    by_name = {t["name"].strip().lower(): t for t in tracks}
    by_program = {}
    for t in tracks:
        by_program.setdefault(t["program"], t)
    parts: dict[str, list] = {}
    ignored = []
    unmatched = []
    for inst in pm.instruments:
        track = by_name.get(inst.name.strip().lower())
        if track is None or track["role"] in parts:
            unmatched.append(inst)
            continue
        parts[track["role"]] = inst.notes
    for inst in unmatched:
        track = None if inst.is_drum else by_program.get(inst.program)
        if track is not None and track["role"] not in parts:
            parts[track["role"]] = inst.notes
        else:
            ignored.append(inst.name or f"program {inst.program}")
    for name in data.empty_tracks:
        track = by_name.get(name.strip().lower())
        if track is not None and track["role"] not in parts:
            parts[track["role"]] = []
    if not parts:
        expected = ", ".join(t["name"] for t in tracks) or "none recorded"
        what = "no notes" if not pm.instruments else "no track that matches a part"
        raise InputError(
            f"{path}: {what} (the composition's tracks: {expected}); is it the edited file?"
        )
    return ImportedParts(
        {role: _to_grid(notes, tempo, length, velocity_scale) for role, notes in parts.items()},
        tuple(ignored),
    )


def _check_tempo(pm, tempo: TempoMap, length: int, path, has_tempo: bool = True) -> None:
    beats = pm.get_beats()
    tpb = tempo.ticks_per_beat
    expected = np.array([tempo.seconds(t) for t in range(0, length + 1, tpb)])
    n = min(len(beats), len(expected))
    if n == 0:
        return
    worst = int(np.argmax(np.abs(beats[:n] - expected[:n])))
    if abs(beats[worst] - expected[worst]) > BEAT_TOLERANCE:
        # without a tempo event a file plays at 120 BPM: say so, it is the likely cause
        why = "" if has_tempo else " (it has no tempo event, so it plays at 120 BPM)"
        raise InputError(
            f"{path}: its tempo map differs from the composition's{why} (beat {worst + 1} at "
            f"{beats[worst]:.3f} s, expected {expected[worst]:.3f} s): the music would drift "
            "from the video; restore the tempo map or compose again"
        )


def _to_grid(notes, tempo: TempoMap, length: int, scale: float) -> tuple[Note, ...]:
    velocities = np.asarray(stage_spec("melody").family("velocity").values)
    durations = np.asarray(DURATIONS)
    out: dict[tuple[int, int], Note] = {}
    for n in notes:
        onset = int(round(tempo.tick(n.start)))
        if not 0 <= onset < length:
            continue
        span = max(1, int(round(tempo.tick(n.end))) - onset)
        duration = int(durations[np.argmin(np.abs(durations - span))])
        velocity = int(velocities[np.argmin(np.abs(velocities - n.velocity / scale))])
        out[(onset, n.pitch)] = Note(onset, duration, int(n.pitch), velocity)
    return tuple(sorted(out.values(), key=lambda n: (n.onset, n.pitch)))
