"""An edited file read back by bar and beat, and placed on the composition's grid.

    >>> imported = read_edited(Path("edited.mid"), score, project.tracks, 0.9)  # doctest: +SKIP
    >>> imported.parts["melody"][0]  # doctest: +SKIP
    Note(onset=4, duration=2, pitch=67, velocity=95)

A DAW or notation program that re-saves our MIDI or MusicXML rewrites its tempo events (MuseScore
rounds every tempo to a whole BPM) and its tick resolution, so an edited file is read by musical
position, never by seconds. Both readers (:func:`symbolic_v2m.music.midi_in.read_midi_edit`,
:func:`symbolic_v2m.music.musicxml_in.read_musicxml_edit`) turn a file into the same
:class:`EditedPiece`: its bars, its tempo marks and, per part, its notes by bar and beat. Then
:func:`place_edit` puts that piece on the composition's grid, in four steps:

1. **Parts to tracks.** Each track we wrote is looked for by name (MuseScore's MIDI import names a
   part ``"Strings 1, Melody"``: the name after the comma counts too); a track whose name is not
   there, by General MIDI program and channel: our export gives every track its own channel, and
   MuseScore's MIDI export keeps the channels but writes neither names nor programs, and writes
   a piano as one track per staff, which come back as one part. A part whose stated program is
   another instrument is never taken for a track. Parts found without their name, tracks not
   found and parts left over are each named in a warning.
2. **Structure.** The file's bars must be the composition's: the same meters, none added or
   removed. Where the numbers of bars differ, the bars' notes are aligned with the composition's
   (``difflib``) to name the bar that was deleted or inserted. A MIDI file has no bar count (a
   program ends it at its last note), so a file may end early (the missing bars read as empty,
   with a warning when notes were composed there) or go on with empty bars.
3. **Tempo.** The file's tempo map may differ from the composition's by what programs do to it,
   not by an edit: its beats may drift at most a 16th note from the composition's over the piece,
   or every tempo may be the composition's rounded to a whole BPM (what MuseScore and our own
   MusicXML write; on a long piece that rounding alone drifts further). The largest drift is
   reported in one line, and the composition's exact tempo map is kept: the bar lines stay on the
   video's cuts.
4. **Notes** go to the composition's tick of their bar and beat, on its 16th grid; durations and
   velocities to the model's vocabulary, velocities divided by the export's dynamics factor. A
   note without a velocity (MusicXML has none unless a program writes one) takes the composed
   note's at the same place, else the part's usual one.

Every refusal is one :class:`InputError` line that names the file and the first bar that differs,
raised before anything is written.
"""

from __future__ import annotations

import bisect
import difflib
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from symbolic_v2m.errors import InputError
from symbolic_v2m.music.score import Note, Score
from symbolic_v2m.music.vocab import DURATIONS, stage_spec

#: The most bars a file may have: a 7-hour piece in 4/4 at 120 BPM has 12,600. More comes from a
#: corrupt or absurd meter (1/64 over hours), and every bar costs work.
MAX_BARS = 50_000
#: MIDI's percussion channel (0-based). Every drum part is on it, so it tells no tracks apart.
DRUM_CHANNEL = 9
#: How far a tempo may sit from the composition's and still count as rounded to a whole BPM.
TEMPO_ROUNDING = 0.5
#: The roles whose notes the score holds; the other tracks are derived from them on export.
SCORE_ROLES = ("melody", "accompaniment")
#: Velocity of an added note in a file without velocities, when the part has no composed notes.
DEFAULT_VELOCITY = 80
#: The two kinds of file, as messages name them.
MIDI, MUSICXML = "MIDI", "MusicXML"


@dataclass(frozen=True)
class EditedBar:
    """A bar of an edited file: where it starts and how long it lasts (quarter notes from the
    file's start), and its meter ``(numerator, denominator)``."""

    start: Fraction
    length: Fraction
    meter: tuple[int, int]

    @property
    def end(self) -> Fraction:
        return self.start + self.length


@dataclass(frozen=True)
class EditedNote:
    """A note of an edited file by musical position: bar index (from 0), ``beat`` (quarter notes
    from the bar line), ``length`` (quarter notes), pitch, and the file's velocity (None when the
    file gives none)."""

    bar: int
    beat: Fraction
    length: Fraction
    pitch: int
    velocity: int | None = None


@dataclass(frozen=True)
class EditedPart:
    """One part (a MIDI track and channel, a MusicXML part or staff) with what identifies it:
    its name, its stated GM program and its channel (0-based; None where the file states none).
    ``label`` is how messages name it (``"track 3 'Melody'"``)."""

    label: str
    name: str
    program: int | None
    channel: int | None
    is_drum: bool
    notes: tuple[EditedNote, ...]


@dataclass(frozen=True)
class EditedPiece:
    """An edited file as both readers give it: bars, tempo marks ``(quarter notes from the start,
    quarter notes per minute)`` from 0 on, whether the file states a tempo at all, and its parts.
    ``kind`` is :data:`MIDI` or :data:`MUSICXML`."""

    path: Path
    kind: str
    bars: tuple[EditedBar, ...]
    tempo: tuple[tuple[Fraction, float], ...]
    has_tempo: bool
    parts: tuple[EditedPart, ...]

    def __post_init__(self) -> None:
        assert self.bars and self.tempo and self.tempo[0][0] == 0, "readers build a whole piece"


@dataclass(frozen=True)
class ImportedParts:
    """Notes per role read from an edited file and placed on the composition's grid.

    Attributes:
        parts: the notes of each role found in the file (``"melody"``, ``"bass"`` ...).
        ignored: labels of the parts with notes that match no track.
        warnings: one line each: parts found without their name, tracks not found, bars read as
            empty, derived parts that were edited, and the tempo map's largest drift.
        drift: the largest distance (seconds) of a beat of the file from the composition's.
    """

    parts: dict[str, tuple[Note, ...]]
    ignored: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    drift: float = 0.0


def sniff(path: Path | str) -> str | None:
    """:data:`MIDI` or :data:`MUSICXML` by the file's first bytes, None when it is neither (or
    cannot be read: the reader then says why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 << 10)
    except OSError:
        return None
    if head[:4] in (b"MThd", b"RIFF"):
        return MIDI
    if head[:4] == b"PK\x03\x04":  # compressed MusicXML (.mxl) is a zip archive
        return MUSICXML
    if b"<score-partwise" in head or b"<score-timewise" in head:
        return MUSICXML
    return None


def read_edited(
    path: Path | str,
    score: Score,
    tracks: Sequence[Mapping[str, Any]],
    velocity_scale: float = 1.0,
    composed: Mapping[str, Sequence[Note]] | None = None,
    expect: str | None = None,
) -> ImportedParts:
    """Read the edited MIDI or MusicXML at ``path`` and place it on ``score``'s grid (see the
    module doc and :func:`place_edit` for the arguments).

    ``expect`` is the kind the user named (``--from-midi`` / ``--from-musicxml``); a file of the
    other kind is refused with a pointer to the right option.

    Raises:
        InputError: the file cannot be read, or does not fit the composition; one line.
    """
    path = Path(path)
    kind = sniff(path) if path.is_file() else None
    if expect is not None and kind is not None and kind != expect:
        option = "--from-midi" if kind == MIDI else "--from-musicxml"
        raise InputError(f"{path}: a {kind} file, not {expect}: give it with {option}")
    kind = kind or expect or MIDI  # the reader of the expected kind says what is wrong
    if kind == MIDI:
        from symbolic_v2m.music.midi_in import read_midi_edit

        piece = read_midi_edit(path)
    else:
        from symbolic_v2m.music.musicxml_in import read_musicxml_edit

        piece = read_musicxml_edit(path)
    return place_edit(piece, score, tracks, velocity_scale, composed)


def place_edit(
    piece: EditedPiece,
    score: Score,
    tracks: Sequence[Mapping[str, Any]],
    velocity_scale: float = 1.0,
    composed: Mapping[str, Sequence[Note]] | None = None,
) -> ImportedParts:
    """The parts of ``piece`` on ``score``'s grid (see the module doc).

    Args:
        piece: the edited file, as a reader gives it.
        score: the composition (its bars, tempo map, and the melody and accompaniment as
            composed).
        tracks: the tracks the export wrote, ``{"name", "role", "program", "channel"}`` dicts as
            the project file records them.
        velocity_scale: the dynamics factor the export applied; it is undone so that an
            untouched note reads back as composed.
        composed: the notes of the tracks as exported, by role, for the derived tracks (bass,
            pad, percussion): a change to them is reported, since export derives them anew.

    A track that is there but has no notes makes its part empty (its notes were deleted); a track
    that is not there keeps its composed notes.

    Raises:
        InputError: no part matches the melody or the accompaniment, the bars differ from the
            composition's, or the tempo map drifts further than rounding explains.
    """
    path = piece.path
    # our MusicXML leaves the drums out (see export.musicxml): not finding them there is normal
    quiet = {t["role"] for t in tracks if piece.kind == MUSICXML and t["channel"] == DRUM_CHANNEL}
    found, renamed, missing, ignored = _match(piece.parts, tracks, quiet)
    if not any(role in found for role in SCORE_ROLES):
        expected = ", ".join(t["name"] for t in tracks) or "none recorded"
        has_notes = any(p.notes for p in piece.parts)
        what = "no track that matches a part" if has_notes else "no notes"
        raise InputError(
            f"{path}: {what} (the composition's tracks: {expected}); is it the edited file?"
        )
    notes = {role: [n for i in found[role] for n in piece.parts[i].notes] for role in found}
    reference = _composed_notes(score, composed)
    warnings = []
    if renamed:
        warnings.append(f"{path}: parts found without their track names: {'; '.join(renamed)}")
    warnings += [f"{path}: {line}" for line in missing]
    warnings += _check_structure(piece, score, notes, reference)
    drift, line = _check_tempo(piece, score)
    if line:
        warnings.append(line)
    starts = [Fraction(bar.start, score.ticks_per_beat) for bar in score.bars()]
    parts = {
        role: _to_grid(role_notes, score, starts, velocity_scale, reference.get(role, ()))
        for role, role_notes in notes.items()
    }
    warnings += _derived_edits(path, parts, reference, score)
    return ImportedParts(parts, tuple(ignored), tuple(warnings), drift)


# -- parts to tracks ------------------------------------------------------------------------


def _names(name: str) -> set[str]:
    """The names a part answers to: its own and, for MuseScore's ``"Strings 1, Melody"``, the
    track name after the last comma."""
    name = name.strip().casefold()
    return {name, name.rpartition(",")[2].strip()} if name else set()


def _match(
    parts: Sequence[EditedPart], tracks: Sequence[Mapping[str, Any]], quiet: set[str]
) -> tuple[dict[str, list[int]], list[str], list[str], list[str]]:
    """Which parts hold each role (``role -> part indices``), and the words for the warnings:
    tracks found without their name, tracks not found, labels of parts with notes left over."""
    by_name = {t["name"].strip().casefold(): t for t in tracks}
    found: dict[str, list[int]] = {}
    taken: set[int] = set()
    for i, part in enumerate(parts):
        track = next((by_name[n] for n in sorted(_names(part.name)) if n in by_name), None)
        if track is not None:
            found.setdefault(track["role"], []).append(i)
            taken.add(i)
    renamed, missing = [], []
    for track in tracks:
        if track["role"] in found:
            continue
        free = [i for i in range(len(parts)) if i not in taken]
        chosen, why = _by_instrument(parts, free, track)
        if chosen:
            found[track["role"]] = chosen
            taken.update(chosen)
            where = " and ".join(parts[i].label for i in chosen)
            renamed.append(f"{track['name']!r} is {where} ({why})")
        elif track["role"] not in quiet:
            keeps = (
                "its composed notes are kept"
                if track["role"] in SCORE_ROLES
                else "it is derived anew from the other parts"
            )
            missing.append(
                f"no part of it is {track['name']!r} (by name, program or channel; renamed, or "
                f"merged into another part?): {keeps}"
            )
    ignored = [p.label for i, p in enumerate(parts) if i not in taken and p.notes]
    return found, renamed, missing, ignored


def _by_instrument(
    parts: Sequence[EditedPart], free: list[int], track: Mapping[str, Any]
) -> tuple[list[int], str]:
    """The unnamed (or renamed) parts that are ``track`` by instrument, and why.

    Channel matches take every part on the channel (a piano written as one track per staff);
    a program alone takes one part, since tracks may share a program (the piano style plays
    melody and accompaniment on piano)."""
    program, channel = track["program"], track["channel"]
    if channel == DRUM_CHANNEL:
        drums = [i for i in free if parts[i].is_drum]
        return drums, "the drum channel"
    pitched = [i for i in free if not parts[i].is_drum]
    both = [i for i in pitched if parts[i].program == program and parts[i].channel == channel]
    if both:
        return both, f"same program {program} and channel {channel + 1}"
    same_program = [i for i in pitched if parts[i].program == program]
    if same_program:
        return same_program[:1], f"same program {program}"
    # a part that states another program is another instrument, whatever its channel
    same_channel = [i for i in pitched if parts[i].program is None and parts[i].channel == channel]
    return same_channel, f"same channel {channel + 1}, no program stated"


# -- structure ------------------------------------------------------------------------------


def _complete(meter: tuple[int, int], length: Fraction) -> bool:
    return length == Fraction(4 * meter[0], meter[1])


def _same_bar(composed: tuple, edited: tuple) -> bool:
    """Whether a bar of the file is the composition's: as long, and in the same meter unless
    the file's bar is incomplete (MuseScore writes our 1/4 pickup as a 4/4 bar that lacks three
    beats: its meter is notation, its length is the music)."""
    (meter, length), (file_meter, file_length) = composed, edited
    if length != file_length:
        return False
    return meter == file_meter or not _complete(file_meter, file_length)


def _meter_text(meter: tuple[int, int], length: Fraction) -> str:
    text = f"{meter[0]}/{meter[1]}"
    return text if _complete(meter, length) else f"{text} cut to {_quarters(length)} quarter notes"


def _quarters(value: Fraction) -> str:
    return str(value) if value.denominator != 1 else str(value.numerator)


def _fingerprints(
    notes: Mapping[str, Iterable[EditedNote]], n_bars: int, tpb: int
) -> list[frozenset[tuple[str, int, int]]]:
    """Per bar of the file, its notes as ``(role, position in grid ticks, pitch)``: what an edit
    of durations or velocities (or a program's re-quantisation) leaves alone."""
    bars: list[set[tuple[str, int, int]]] = [set() for _ in range(n_bars)]
    for role, role_notes in notes.items():
        for n in role_notes:
            if n.bar < n_bars:
                bars[n.bar].add((role, _nearest(n.beat * tpb), n.pitch))
    return [frozenset(b) for b in bars]


def _composed_fingerprints(
    score: Score, reference: Mapping[str, Sequence[Note]], roles: Iterable[str]
) -> list[frozenset[tuple[str, int, int]]]:
    starts = [bar.start for bar in score.bars()]
    bars: list[set[tuple[str, int, int]]] = [set() for _ in starts]
    for role in roles:
        for n in reference.get(role, ()):
            if 0 <= n.onset < score.length:
                index = score.bar_at(n.onset)
                bars[index].add((role, n.onset - starts[index], n.pitch))
    return [frozenset(b) for b in bars]


def _check_structure(
    piece: EditedPiece,
    score: Score,
    notes: Mapping[str, Sequence[EditedNote]],
    reference: Mapping[str, Sequence[Note]],
) -> list[str]:
    """Refuse a file whose bars are not the composition's (one line naming the first bar that
    differs); the warning for a file that ends early."""
    tpb = score.ticks_per_beat
    composed = [
        ((b.meter.numerator, b.meter.denominator), Fraction(b.length, tpb)) for b in score.bars()
    ]
    edited = [(b.meter, b.length) for b in piece.bars]
    # the notes of the roles both sides know (derived tracks only when their notes are given)
    known = {role: role_notes for role, role_notes in notes.items() if role in reference}
    prints = _fingerprints(known, len(edited), tpb)
    composed_prints = _composed_fingerprints(score, reference, known)
    n_c, n_f = len(composed), len(edited)
    while n_f > n_c and not prints[n_f - 1]:  # empty bars after the end: a DAW's loop length
        n_f -= 1
    meter_at = next(
        (i for i in range(min(n_c, n_f)) if not _same_bar(composed[i], edited[i])), None
    )
    if n_f == n_c and meter_at is None:
        return []
    path = piece.path
    counts = f"it has {n_f} bars, the composition {n_c}"
    located = None
    if n_f != n_c:
        # aligned by length and notes (a meter that is only notation does not count)
        located = _aligned_difference(
            [(length, p) for (_, length), p in zip(composed, composed_prints, strict=True)],
            [(length, p) for (_, length), p in zip(edited[:n_f], prints[:n_f], strict=True)],
        )
    if located is not None and (meter_at is None or located[0] <= meter_at):
        index, detail = located
        _refuse_structure(piece, score, index, f"{counts}: {detail}")
    if meter_at is not None:
        (cm, cl), (fm, fl) = composed[meter_at], edited[meter_at]
        detail = (
            f"bar {meter_at + 1} is {_meter_text(fm, fl)} in it, {_meter_text(cm, cl)} in the "
            "composition"
        )
        _refuse_structure(piece, score, meter_at, detail)
    if n_f > n_c:
        detail = f"{counts}, and bars {n_c + 1}-{n_f} hold notes after the video's end"
        _refuse_structure(piece, score, n_c, detail)
    # the file ends early: its last bars are simply not there (a MIDI file ends at its last note)
    lost = [i + 1 for i in range(n_f, n_c) if composed_prints[i]]
    if not lost:
        return []
    return [
        f"{path}: it ends after bar {n_f} of {n_c}: {_bars_text(lost)} read as empty (the notes "
        "composed there are left out)"
    ]


def _bars_text(bars: list[int]) -> str:
    if len(bars) == 1:
        return f"bar {bars[0]}"
    if bars == list(range(bars[0], bars[-1] + 1)):
        return f"bars {bars[0]}-{bars[-1]}"
    return "bars " + ", ".join(str(b) for b in bars)


def _aligned_difference(composed: list, edited: list) -> tuple[int, str] | None:
    """Where the file's bars stop following the composition's: ``(bar index, what happened)``
    for bars removed or inserted before the end, None when the only difference is at the end
    or nothing in the two aligns (then the bar count alone speaks)."""
    matcher = difflib.SequenceMatcher(None, composed, edited, autojunk=False)
    ops = matcher.get_opcodes()
    if not any(tag == "equal" for tag, *_ in ops):
        return None
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            continue  # edited bars: the same number of them
        if i2 == len(composed) and j2 == len(edited):
            return None  # at the end: the file ends early or goes on (the caller decides)
        if i2 - i1 > j2 - j1:
            missing = list(range(i1 + 1, i1 + 1 + (i2 - i1) - (j2 - j1)))
            verb = "is" if len(missing) == 1 else "are"
            return i1, f"{_bars_text(missing)} of the composition {verb} not in it"
        new = list(range(j1 + 1, j1 + 1 + (j2 - j1) - (i2 - i1)))
        verb = "is" if len(new) == 1 else "are"
        return i1, f"{_bars_text(new)} of it {verb} new"
    return None


def _refuse_structure(piece: EditedPiece, score: Score, index: int, detail: str) -> None:
    hint = ""
    file_qpm, composed_qpm = piece.tempo[0][1], score.tempo.tempo_changes()[0][1]
    if not piece.has_tempo:
        hint = " (it has no tempo event, so it plays at 120 BPM)"
    elif abs(file_qpm - composed_qpm) > TEMPO_ROUNDING:
        hint = (
            f" (its tempo map differs too: {file_qpm:.4g} BPM at the start, {composed_qpm:.4g} in "
            "the composition)"
        )
    raise InputError(
        f"{piece.path}: its bars differ from the composition's from bar {index + 1} on "
        f"({detail}){hint}: bars added, removed or re-metered would move the music against the "
        "video; edit notes only, or compose again"
    )


# -- tempo ----------------------------------------------------------------------------------


def _seconds(tempo: Sequence[tuple[Fraction, float]], quarters: Sequence[Fraction]) -> list[float]:
    """The time (seconds) of each of the sorted ``quarters`` under the file's tempo marks."""
    out = []
    mark, at, seconds = 0, Fraction(0), 0.0
    for q in quarters:
        while mark + 1 < len(tempo) and tempo[mark + 1][0] <= q:
            seconds += float(tempo[mark + 1][0] - at) * 60.0 / tempo[mark][1]
            at = tempo[mark + 1][0]
            mark += 1
        out.append(seconds + float(q - at) * 60.0 / tempo[mark][1])
    return out


def _check_tempo(piece: EditedPiece, score: Score) -> tuple[float, str | None]:
    """The largest drift (seconds) of the file's beats from the composition's, and the line that
    reports it; an InputError when it is more than a 16th note and more than rounding."""
    tpb = score.ticks_per_beat
    end = min(piece.bars[-1].end, Fraction(score.length, tpb))
    beats = [Fraction(k) for k in range(int(end) + 1)]
    edited = np.array(_seconds(piece.tempo, beats))
    composed = np.array([score.tempo.seconds(int(q) * tpb) for q in beats])
    sixteenth = np.array([score.tempo.seconds(int(q) * tpb + tpb / 4) for q in beats]) - composed
    drift = edited - composed
    worst = int(np.argmax(np.abs(drift)))
    largest = float(abs(drift[worst]))
    if largest < 0.0005:
        return largest, None
    over = np.flatnonzero(np.abs(drift) > sixteenth * (1 + 1e-9))
    # whole-BPM rounding: every beat's tempo within half a BPM of the composition's (an absurd
    # tempo of a corrupt file may make a beat last no time at all: infinitely far, not rounded)
    with np.errstate(divide="ignore", invalid="ignore"):
        tempi = 60.0 / np.diff(edited) - 60.0 / np.diff(composed)
    rounded = bool(np.all(np.abs(tempi) <= TEMPO_ROUNDING + 1e-6))
    path = piece.path
    if len(over) and not rounded:
        first = int(over[0])
        bar = score.bar_at(first * tpb) + 1
        why = "" if piece.has_tempo else " (it has no tempo event, so it plays at 120 BPM)"
        raise InputError(
            f"{path}: its tempo map differs from the composition's{why}: from bar {bar} on its "
            f"beats are more than a 16th note away ({_where(score, first)} at "
            f"{edited[first]:.3f} s, {composed[first]:.3f} s in the composition); the bar lines "
            "follow the video's cuts, so a tempo change cannot be kept: restore the tempo map or "
            "compose again"
        )
    where = f"{largest * 1000:.0f} ms at most ({_where(score, worst)})"
    if len(over):
        how = f"its tempi are the composition's rounded to whole BPM, {where}"
    else:
        how = (
            f"its tempo map differs from the composition's by {where}, less than a 16th note "
            f"({sixteenth[worst] * 1000:.0f} ms there)"
        )
    return largest, f"{path}: {how}: read by bar and beat, the composition's tempo map is kept"


def _where(score: Score, quarter: int) -> str:
    """A quarter-note beat of the composition in words: ``"bar 7, beat 3"`` (bar and beat from
    1, beats in quarter notes), or ``"the end of bar 12"``."""
    tick = quarter * score.ticks_per_beat
    index = score.bar_at(tick)
    if tick >= score.length:
        return f"the end of bar {index + 1}"
    start = [bar.start for bar in score.bars()][index]
    return f"bar {index + 1}, beat {_quarters(Fraction(tick - start, score.ticks_per_beat) + 1)}"


# -- notes ----------------------------------------------------------------------------------


def _nearest(value: Fraction) -> int:
    """The nearest integer, halves up (Python's round() takes halves to even)."""
    return math.floor(value + Fraction(1, 2))


def _composed_notes(
    score: Score, composed: Mapping[str, Sequence[Note]] | None
) -> dict[str, tuple[Note, ...]]:
    """Every role's notes as composed: the score's parts, and the derived tracks as exported
    (only their places matter: they are never kept)."""
    reference = {
        role: tuple(notes) for role, notes in (composed or {}).items() if role not in SCORE_ROLES
    }
    reference["melody"], reference["accompaniment"] = score.melody, score.accompaniment
    return reference


def _to_grid(
    notes: Sequence[EditedNote],
    score: Score,
    starts: Sequence[Fraction],
    scale: float,
    reference: Sequence[Note],
) -> tuple[Note, ...]:
    """Notes at the composition's ticks of their bars and beats, on its grid and vocabulary.

    Of two notes of one pitch that land on one tick, the later in the file is kept."""
    tpb = score.ticks_per_beat
    velocities = np.asarray(stage_spec("melody").family("velocity").values)
    known = {(n.onset, n.pitch): n.velocity for n in reference}
    usual = statistics.median_low([n.velocity for n in reference]) if reference else None
    out: dict[tuple[int, int], Note] = {}
    for n in notes:
        if n.bar >= len(starts):
            continue  # only empty bars lie past the end once the structure is checked
        start = starts[n.bar] + n.beat
        onset = _nearest(start * tpb)
        if not 0 <= onset < score.length:
            continue
        span = max(1, _nearest((start + n.length) * tpb) - onset)
        # in Python, not numpy: a corrupt file's length may not fit 64 bits
        duration = min(DURATIONS, key=lambda d: abs(d - span))
        if n.velocity is not None:
            wanted = n.velocity / scale
        else:
            wanted = known.get((onset, n.pitch), usual or DEFAULT_VELOCITY)
        velocity = int(velocities[np.argmin(np.abs(velocities - wanted))])
        out[(onset, n.pitch)] = Note(onset, duration, n.pitch, velocity)
    return tuple(sorted(out.values(), key=lambda n: (n.onset, n.pitch)))


def _derived_edits(
    path: Path,
    parts: Mapping[str, Sequence[Note]],
    reference: Mapping[str, Sequence[Note]],
    score: Score,
) -> list[str]:
    """A warning for each derived track (bass, pad, percussion) whose notes differ from the
    exported ones: export derives it anew, so the change is not kept."""
    lines = []
    for role, notes in parts.items():
        if role in SCORE_ROLES or role not in reference:
            continue
        edited = {(n.onset, n.pitch) for n in notes}
        composed = {(n.onset, n.pitch) for n in reference[role]}
        changed = sorted({score.bar_at(t) + 1 for t, _ in edited ^ composed})
        if changed:
            shown = _bars_text(changed[:5]) + (" ..." if len(changed) > 5 else "")
            lines.append(
                f"{path}: the {role} part differs from the exported one in {shown}; it is "
                "derived from the chords and the accompaniment, so the change is not kept (edit "
                "the melody or the accompaniment instead)"
            )
    return lines


def bar_index(bars: Sequence[EditedBar], position: Fraction) -> int:
    """Index of the bar of ``bars`` that holds ``position`` (quarter notes from the start); the
    first bar for positions before it, the last for positions after it."""
    starts = [bar.start for bar in bars]
    return max(0, bisect.bisect_right(starts, position) - 1)
