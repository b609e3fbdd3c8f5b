"""Arrangement -> Standard MIDI File: type 1, 480 ticks per quarter note, reproducible bytes.

    >>> write_midi(arrangement, Path("clip.mid"))   # doctest: +SKIP

Track 0 is the conductor track: the title, the tempo map, a time signature wherever the meter
changes, the keys and the markers (cuts, sections). Then one track per arrangement track, each on
its own channel with its program; drums on channel 10 (0-based 9) need no program change.

Choices that matter to readers of the file:

- **Every track has its own channel.** MuseScore 3 (and other notation programs) merge tracks
  that share a channel into one part, so a shared channel is refused (drum tracks excepted: they
  all belong on the percussion channel).
- **Text is UTF-8.** The standard says ASCII, but titles come from file names and markers hold
  an em dash; UTF-8 is what DAWs and MuseScore read, and a reader that assumes Latin-1 (mido's
  default, pretty_midi) sees odd characters in names, never an error.
- **Same-pitch overlaps end the earlier note first.** MIDI cannot hold two sounding notes of one
  pitch on one channel: the second note-on would be cut by the first note's note-off, so the
  earlier note ends where the later one starts (of two that start together the longer, then
  louder, is kept).
- **Score tick 0 is 0 s.** The tempo map turns into set-tempo events from the start of the file;
  a score whose first tick is elsewhere is refused rather than silently shifted.

A **stem** (:func:`write_stem_midi`) is one part on its own: a type-0 file (one track, which a DAW
drops onto one track) holding the conductor's tempo map, meters, keys and markers and the part's
notes, named after the part and as long as the piece, so that it lines up with the others.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import mido

from symbolic_v2m.arrangement import Arrangement, Track
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.music.score import KeyChange, Note

#: Resolution of the written file; the score's grid (4 ticks per quarter) maps onto it exactly.
MIDI_TICKS_PER_QUARTER = 480

# mido's key names, spelt with the fewer accidentals (Db major over C# major, G#m over Abm;
# F# major and Eb minor, both six accidentals, as music21 and most pop charts spell them).
MAJOR_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEY_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")

# Order of events that share a tick: names and settings first, note-offs before note-ons (a note
# that ends where the next of the same pitch starts must not cut the new one off).
_NAME, _METER, _KEY, _TEMPO, _MARKER = range(5)
_PROGRAM, _NOTE_OFF, _NOTE_ON = range(5, 8)


def midi_key_name(key: KeyChange) -> str:
    """mido's name for a key: ``"C"``, ``"F#m"``, ``"Bb"``."""
    return (MAJOR_KEY_NAMES if key.mode == "major" else MINOR_KEY_NAMES)[key.tonic]


def arrangement_to_midi(arrangement: Arrangement) -> mido.MidiFile:
    """Build the type-1 MIDI file of ``arrangement`` in memory (see the module docstring).

    Raises:
        ValueError: two non-drum tracks share a channel, score tick 0 is not at 0 s, or a
            track holds a value MIDI cannot carry (channel, program, pitch, velocity, duration).
    """
    score = arrangement.score
    if MIDI_TICKS_PER_QUARTER % score.ticks_per_beat:
        raise ValueError(
            f"a grid of {score.ticks_per_beat} ticks per beat does not divide "
            f"{MIDI_TICKS_PER_QUARTER} MIDI ticks per quarter"
        )
    start = score.tempo.seconds(0)
    if abs(start) > 1e-6:
        raise ValueError(
            f"MIDI export needs score tick 0 at 0 s, but the tempo map puts it at {start:.3f} s"
        )
    _check_channels(arrangement.tracks)
    scale = MIDI_TICKS_PER_QUARTER // score.ticks_per_beat
    end = score.length * scale

    midi = mido.MidiFile(type=1, ticks_per_beat=MIDI_TICKS_PER_QUARTER, charset="utf-8")
    midi.tracks.append(_track(_conductor_events(arrangement, scale), end))
    for track in arrangement.tracks:
        midi.tracks.append(_track(_note_events(track, scale), end))
    return midi


def write_midi(arrangement: Arrangement, path: Path) -> None:
    """Write ``arrangement`` as a Standard MIDI File at ``path``, atomically.

    The same arrangement always gives the same bytes (mido writes no timestamps, and events
    that share a tick are written in a fixed order), so outputs can be compared and cached.

    Raises:
        ValueError: as :func:`arrangement_to_midi`.
    """
    midi = arrangement_to_midi(arrangement)
    with atomic_output(Path(path)) as tmp:
        midi.save(tmp)


def stem_midi(arrangement: Arrangement, track: Track) -> mido.MidiFile:
    """One track of ``arrangement`` as a type-0 file with the conductor's events (module doc)."""
    arrangement_to_midi(replace(arrangement, tracks=(track,)))  # the full file's checks
    score = arrangement.score
    scale = MIDI_TICKS_PER_QUARTER // score.ticks_per_beat
    # the title names the piece in the full file; here the one track is named after its part
    conductor = [e for e in _conductor_events(arrangement, scale) if e[1] != _NAME]
    midi = mido.MidiFile(type=0, ticks_per_beat=MIDI_TICKS_PER_QUARTER, charset="utf-8")
    midi.tracks.append(_track(conductor + _note_events(track, scale), score.length * scale))
    return midi


def write_stem_midi(arrangement: Arrangement, track: Track, path: Path) -> None:
    """Write ``track`` as a stem MIDI at ``path``, atomically."""
    midi = stem_midi(arrangement, track)
    with atomic_output(Path(path)) as tmp:
        midi.save(tmp)


def _check_channels(tracks: tuple[Track, ...]) -> None:
    owners: dict[int, str] = {}
    for track in tracks:
        if not 0 <= track.channel < 16:
            raise ValueError(f"track {track.name!r}: MIDI channel must be 0-15 ({track.channel})")
        if not track.is_drum and not 0 <= track.program < 128:
            raise ValueError(f"track {track.name!r}: GM program must be 0-127 ({track.program})")
        if track.is_drum:
            continue
        if track.channel in owners:
            raise ValueError(
                f"tracks {owners[track.channel]!r} and {track.name!r} share MIDI channel "
                f"{track.channel}; give every track its own channel (notation programs merge "
                "tracks that share one)"
            )
        owners[track.channel] = track.name


_Event = tuple[int, int, int, mido.Message | mido.MetaMessage]  # (tick, kind, sort key, message)


def _conductor_events(arrangement: Arrangement, scale: int) -> list[_Event]:
    score = arrangement.score
    events: list[_Event] = [(0, _NAME, 0, mido.MetaMessage("track_name", name=arrangement.title))]
    previous = None
    for bar in score.bars():
        if bar.meter != previous:
            message = mido.MetaMessage(
                "time_signature", numerator=bar.meter.numerator, denominator=bar.meter.denominator
            )
            events.append((bar.start * scale, _METER, 0, message))
            previous = bar.meter
    last_key = None
    for index, key in enumerate(sorted(score.keys, key=lambda k: k.onset)):
        name = midi_key_name(key)
        if name != last_key:
            # the first key covers the opening, wherever it was written
            tick = 0 if index == 0 else key.onset * scale
            events.append((tick, _KEY, 0, mido.MetaMessage("key_signature", key=name)))
            last_key = name
    for index, (tick, qpm) in enumerate(score.tempo.tempo_changes()):
        # before the first anchor the first segment's tempo holds, so it starts the file
        tick = 0 if index == 0 else max(tick, 0) * scale
        tempo = mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm))
        events.append((tick, _TEMPO, 0, tempo))
    for order, marker in enumerate(arrangement.markers):
        message = mido.MetaMessage("marker", text=marker.text)
        events.append((max(marker.tick, 0) * scale, _MARKER, order, message))
    return events


def _note_events(track: Track, scale: int) -> list[_Event]:
    events: list[_Event] = [(0, _NAME, 0, mido.MetaMessage("track_name", name=track.name))]
    channel = track.channel
    if not track.is_drum:
        program = mido.Message("program_change", channel=channel, program=track.program)
        events.append((0, _PROGRAM, 0, program))
    for onset, offset, pitch, velocity in _note_spans(track):
        on = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
        off = mido.Message("note_off", channel=channel, note=pitch)
        events.append((onset * scale, _NOTE_ON, pitch, on))
        events.append((offset * scale, _NOTE_OFF, pitch, off))
    return events


def _note_spans(track: Track) -> list[tuple[int, int, int, int]]:
    """``(onset, offset, pitch, velocity)`` with same-pitch overlaps resolved (module doc)."""
    by_pitch: dict[int, list[Note]] = defaultdict(list)
    for note in track.notes:
        if (
            note.onset < 0
            or note.duration < 1
            or not 0 <= note.pitch < 128
            or not 1 <= note.velocity < 128
        ):
            raise ValueError(f"track {track.name!r}: note not writable as MIDI: {note}")
        by_pitch[note.pitch].append(note)
    spans = []
    for pitch, notes in sorted(by_pitch.items()):
        notes.sort(key=lambda n: (n.onset, -n.duration, -n.velocity))
        kept = [n for i, n in enumerate(notes) if i == 0 or notes[i - 1].onset != n.onset]
        for note, following in zip(kept, kept[1:] + [None], strict=True):
            offset = note.offset if following is None else min(note.offset, following.onset)
            spans.append((note.onset, offset, pitch, note.velocity))
    return spans


def _track(events: list[_Event], end: int) -> mido.MidiTrack:
    """Messages in a fixed order with delta times; the track ends at the score's end (or at its
    last event, if later) so every track, and the file, lasts as long as the score."""
    track = mido.MidiTrack()
    now = 0
    for tick, _, _, message in sorted(events, key=lambda e: e[:3]):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end - now, 0)))
    return track
