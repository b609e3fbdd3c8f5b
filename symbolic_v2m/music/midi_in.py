"""Reading a MIDI file that a user edited in a DAW back onto a composition's grid.

Tracks are matched to roles by name first (``Melody``, ``Accompaniment``, ...), then, for a
role whose track was renamed, by General MIDI program; tracks that match no role are ignored
(with a warning, the caller's to print). Times come from the file's own tempo map and are
placed on the composition's tick grid through the composition's tempo map, after checking that
the two agree: a DAW edit that changed the tempo would make the music drift from the video, and
that is an error, not something to paper over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic_v2m.errors import InputError
from symbolic_v2m.music.score import Note, TempoMap
from symbolic_v2m.music.vocab import DURATIONS, stage_spec

#: How far (seconds) a beat of the edited file may sit from the composition's before we refuse.
BEAT_TOLERANCE = 0.005


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

    ``velocity_scale`` is the dynamics factor the arrangement applied on export; it is undone so
    that an untouched note reads back as it was composed."""
    from symbolic_v2m.quiet_import import quiet_import

    pretty_midi = quiet_import("pretty_midi")

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi / mido raise many types for bad files
        raise InputError(f"{path}: not a readable MIDI file ({exc})") from None
    _check_tempo(pm, tempo, length, path)
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
    return ImportedParts(
        {role: _to_grid(notes, tempo, length, velocity_scale) for role, notes in parts.items()},
        tuple(ignored),
    )


def _check_tempo(pm, tempo: TempoMap, length: int, path) -> None:
    beats = pm.get_beats()
    tpb = tempo.ticks_per_beat
    expected = np.array([tempo.seconds(t) for t in range(0, length + 1, tpb)])
    n = min(len(beats), len(expected))
    if n == 0:
        return
    worst = int(np.argmax(np.abs(beats[:n] - expected[:n])))
    if abs(beats[worst] - expected[worst]) > BEAT_TOLERANCE:
        raise InputError(
            f"{path}: its tempo map differs from the composition's (beat {worst + 1} at "
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
