"""MIDI files and project files from outside: each one is read, or refused with one line that
names the file and the problem (and, for a project, the field); never a traceback.

MIDI files reach the program through ``evaluate`` (:func:`read_piece`) and ``regenerate
--from-midi`` (:func:`read_edited_midi`); both go through :func:`read_midi`, so the cases are
checked through both, through the library and the command line.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest

from symbolic_v2m import project as project_module
from symbolic_v2m.cli import main
from symbolic_v2m.compose import RegenerateRequest
from symbolic_v2m.errors import InputError
from symbolic_v2m.evaluation.piece import read_piece
from symbolic_v2m.music.midi_in import MAX_FILE_BYTES, read_edited_midi
from symbolic_v2m.music.score import sort_notes
from symbolic_v2m.project import (
    Project,
    decode_pictures,
    encode_pictures,
    load_project,
    resolve_video,
)
from symbolic_v2m.video.features import PICTURE_HEIGHT

TEMPO = mido.MetaMessage("set_tempo", tempo=500_000)  # 120 BPM


def _note(pitch: int = 60, start: int = 0, length: int = 480) -> list:
    return [
        mido.Message("note_on", note=pitch, velocity=80, time=start),
        mido.Message("note_off", note=pitch, velocity=0, time=length),
    ]


def _midi(path: Path, tracks: list[list], type: int = 1, tpb: int = 480) -> Path:
    """A MIDI file of ``tracks`` (lists of messages with delta times)."""
    midi = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    midi.save(path)
    return path


def _valid(path: Path) -> Path:
    return _midi(path, [[TEMPO], [mido.MetaMessage("track_name", name="Piano"), *_note()]])


def _patched(offset: int, value: bytes) -> Callable[[Path], Path]:
    """A maker: the valid file with ``value`` written over its bytes at ``offset``."""

    def make(path: Path) -> Path:
        data = bytearray(_valid(path).read_bytes())
        data[offset : offset + len(value)] = value
        path.write_bytes(bytes(data))
        return path

    return make


def _raw(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _truncated(path: Path) -> Path:
    path.write_bytes(_valid(path).read_bytes()[:-6])
    return path


def _too_large(path: Path) -> Path:
    with open(_valid(path), "r+b") as fh:  # sparse: no disk used
        fh.truncate(MAX_FILE_BYTES + 1)
    return path


# the MThd header: b"MThd", length (4 bytes), type @8, track count @10, division @12
BAD_MIDI = {
    "empty": (_raw(b""), "empty file"),
    "random bytes": (_raw(bytes(range(7, 250, 3)) * 4), "not a readable MIDI file"),
    "RIFF wrapper": (_raw(b"RIFF\x00\x00\x00\x04RMID"), "RIFF"),
    "header only": (_raw(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0"), "truncated"),
    "cut short": (_truncated, "truncated"),
    "type 2": (_patched(8, b"\x00\x02"), "type-2"),
    "type 7": (_patched(8, b"\x00\x07"), "unknown MIDI file type 7"),
    "no tracks": (_patched(10, b"\x00\x00"), "announces no tracks"),
    "resolution 0": (_patched(12, b"\x00\x00"), "tick resolution of 0"),
    "SMPTE division": (_patched(12, b"\xe7\x28"), "SMPTE"),
    "undefined status byte": (_patched(22, b"\x00\xf4"), "track 1: corrupt"),
    "too large": (_too_large, "too large"),
    "huge delta time": (
        lambda p: _midi(p, [[TEMPO], _note(start=0x0FFF_FFFF)]),
        "track 2: an event at tick 268435455",
    ),
    "tempo 0": (lambda p: _midi(p, [[mido.MetaMessage("set_tempo", tempo=0)], _note()]), "tempo"),
    "meter 4/1024": (
        lambda p: _midi(
            p, [[mido.MetaMessage("time_signature", numerator=4, denominator=1024)], _note()]
        ),
        "time signature 4/1024",
    ),
}


def _one_line(message: str) -> str:
    assert "\n" not in message.strip() and "Traceback" not in message
    return message


# --- read_piece / evaluate ---------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_MIDI)
def test_bad_midi_is_one_line_input_error_for_evaluate(case, tmp_path, capsys) -> None:
    make, problem = BAD_MIDI[case]
    path = make(tmp_path / "bad.mid")
    with pytest.raises(InputError) as err:
        read_piece(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value)
    _one_line(str(err.value))
    assert main(["evaluate", str(path)]) == 1
    stderr = _one_line(capsys.readouterr().err)
    assert stderr.startswith(f"error: {path}: ") and problem in stderr


def test_midi_that_is_odd_but_valid_is_read(tmp_path) -> None:
    # type 0, no tempo event: one note on each of two channels, 120 BPM (the MIDI default)
    type0 = _midi(
        tmp_path / "t0.mid",
        [
            [
                mido.Message("program_change", program=40, channel=1),
                mido.Message("note_on", note=60, velocity=90),
                mido.Message("note_on", note=67, velocity=90, channel=1),
                mido.Message("note_off", note=60, time=960),
                mido.Message("note_off", note=67, channel=1),
            ]
        ],
        type=0,
    )
    piece = read_piece(type0)
    assert len(piece.tracks) == 2 and sorted(piece.notes[:, 2]) == [60, 67]
    assert np.allclose(piece.notes[:, 1], 1.0) and np.allclose(piece.beats, [0.0, 0.5])
    # no notes at all: an empty piece (its metrics are undefined, see the music-metric tests)
    empty = read_piece(
        _midi(tmp_path / "silent.mid", [[TEMPO, mido.MetaMessage("text", text="x")]])
    )
    assert empty.notes.shape == (0, 6)
    # a note-off before any note-on, a note never ended: ignored; the real note is kept
    odd = [mido.Message("note_off", note=50), *_note(62), mido.Message("note_on", note=70)]
    assert read_piece(_midi(tmp_path / "odd.mid", [[TEMPO], odd])).notes[:, 2].tolist() == [62]
    # the largest tick resolution there is
    fine = read_piece(_midi(tmp_path / "fine.mid", [[TEMPO], _note(length=32767)], tpb=32767))
    assert fine.notes[0, 1] == pytest.approx(0.5)
    # a tempo event on the second track (pretty_midi reads only the first): still honoured
    late = _midi(
        tmp_path / "late.mid", [[], [mido.MetaMessage("set_tempo", tempo=1_000_000), *_note()]]
    )
    assert read_piece(late).notes[0, 1] == pytest.approx(1.0)
    # an unknown chunk between the header and the track is skipped, as the standard says
    data = _valid(tmp_path / "chunk.mid").read_bytes()
    (tmp_path / "chunk.mid").write_bytes(data[:14] + b"XTRA\x00\x00\x00\x03abc" + data[14:])
    assert len(read_piece(tmp_path / "chunk.mid").notes) == 1


def test_thousands_of_tracks_are_read(tmp_path) -> None:
    tracks = [[TEMPO]] + [_note(40 + i % 60, start=i) for i in range(3000)]
    piece = read_piece(_midi(tmp_path / "many.mid", tracks))
    assert len(piece.notes) == 3000 and len(piece.tracks) == 3000


def test_a_reference_folder_skips_a_bad_file_with_a_warning(tmp_path, capsys) -> None:
    folder = tmp_path / "refs"
    folder.mkdir()
    _valid(folder / "good.mid")
    (folder / "bad.mid").write_bytes(b"")
    assert main(["evaluate", str(_valid(tmp_path / "x.mid")), "--reference", str(folder)]) == 0
    assert f"warning: reference file skipped: {folder / 'bad.mid'}: empty file" in (
        capsys.readouterr().err
    )


# --- regenerate --from-midi --------------------------------------------------------------------


def _exported(project: Path) -> Path:
    return project.with_name(project.name.replace(".v2m.json", ".mid"))


def _import(project: Path, midi: Path):
    loaded = load_project(project)
    score = loaded.music()
    scale = loaded.timeline["mood"]["velocity_scale"]
    return read_edited_midi(midi, score, loaded.tracks, scale)


def _regen(project: Path, *args: str) -> int:
    return main(["regenerate", str(project), "--only", "midi", "--stage", "accompaniment", *args])


def _merged_type0(source: Path, target: Path) -> Path:
    midi = mido.MidiFile(source)
    single = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
    single.tracks.append(mido.merge_tracks(midi.tracks))
    single.save(target)
    return target


def _retimed(source: Path, target: Path, tpb: int) -> Path:
    """The same music at another tick resolution (delta times rescaled, rounding carried)."""
    midi = mido.MidiFile(source)
    scale = tpb / midi.ticks_per_beat
    for track in midi.tracks:
        exact, placed = 0.0, 0
        for msg in track:
            exact += msg.time * scale
            msg.time, placed = round(exact) - placed, round(exact)
    midi.ticks_per_beat = tpb
    midi.save(target)
    return target


@pytest.mark.parametrize(
    "case", ["empty", "random bytes", "cut short", "type 2", "huge delta time"]
)
def test_bad_midi_is_refused_by_regenerate_before_any_change(project, tmp_path, capsys, case):
    make, problem = BAD_MIDI[case]
    path = make(tmp_path / "edited.mid")
    before = {p.name: p.read_bytes() for p in project.parent.iterdir()}
    assert _regen(project, "--from-midi", str(path)) == 1
    stderr = _one_line(capsys.readouterr().err)
    assert stderr.startswith(f"error: {path}: ") and problem in stderr
    assert {p.name: p.read_bytes() for p in project.parent.iterdir()} == before


def test_edited_midi_cases_through_the_library(project, tmp_path) -> None:
    exported = _exported(project)
    composed = _import(project, exported)
    assert {"melody", "accompaniment"} <= set(composed.parts)
    # type 0 (one track): split by channel and program, matched by program, same notes
    type0 = _import(project, _merged_type0(exported, tmp_path / "t0.mid"))
    assert type0.parts == composed.parts
    # the largest tick resolution: the same notes on the grid
    fine = _import(project, _retimed(exported, tmp_path / "fine.mid", 32767))
    assert fine.parts == composed.parts
    # an emptied track: that part is empty (the notes were deleted), the others as they were
    midi = mido.MidiFile(exported)
    melody = next(t for t in midi.tracks if t.name == "Melody")
    melody[:] = [m for m in melody if m.type not in ("note_on", "note_off")]
    midi.save(tmp_path / "no_melody.mid")
    emptied = _import(project, tmp_path / "no_melody.mid")
    assert emptied.parts["melody"] == ()
    assert emptied.parts["accompaniment"] == composed.parts["accompaniment"]
    # thousands of extra tracks: read, and each one reported as ignored
    midi = mido.MidiFile(exported)
    for i in range(2000):
        extra = mido.MidiTrack([mido.MetaMessage("track_name", name=f"Idea {i}")])
        extra.extend(_note(60 + i % 12))
        extra[1] = extra[1].copy(channel=15)
        extra[2] = extra[2].copy(channel=15)
        midi.tracks.append(extra)
    midi.save(tmp_path / "crowded.mid")
    crowded = _import(project, tmp_path / "crowded.mid")
    assert crowded.parts == composed.parts and len(crowded.ignored) == 2000


def test_edited_midi_without_tempo_or_notes_is_refused(project, tmp_path, capsys) -> None:
    midi = mido.MidiFile(_exported(project))
    for track in midi.tracks:
        track[:] = [m for m in track if m.type != "set_tempo"]
    midi.save(tmp_path / "no_tempo.mid")
    with pytest.raises(InputError, match="no tempo event, so it plays at 120 BPM"):
        _import(project, tmp_path / "no_tempo.mid")
    silent = _midi(tmp_path / "silent.mid", [[TEMPO, mido.MetaMessage("track_name", name="x")]])
    with pytest.raises(InputError, match="silent.mid: no notes"):
        _import(project, silent)
    # a drum track and an instrument no part of the composition plays
    drums = [mido.Message(m.type, note=36, velocity=m.velocity, channel=9) for m in _note()]
    organ = [mido.Message("program_change", program=19), *_note()]
    other = _midi(tmp_path / "other.mid", [[TEMPO], drums, organ])
    with pytest.raises(InputError, match="no track that matches a part"):
        _import(project, other)
    before = project.read_bytes()
    assert _regen(project, "--from-midi", str(silent)) == 1
    assert "no notes" in _one_line(capsys.readouterr().err)
    assert project.read_bytes() == before


def test_a_type0_edit_is_accepted_by_regenerate(project, tmp_path) -> None:
    type0 = _merged_type0(_exported(project), tmp_path / "0.mid")
    imported = _import(project, type0).parts["melody"]
    assert _regen(project, "--from-midi", str(type0)) == 0
    assert load_project(project).music().melody == sort_notes(imported)  # kept as given


# --- project files -----------------------------------------------------------------------------


def _edit(project: Path, change: Callable[[dict], object]) -> Path:
    doc = json.loads(project.read_text())
    change(doc)
    project.write_text(json.dumps(doc))
    return project


def test_a_newer_schema_names_both_versions_and_says_to_upgrade(project, capsys) -> None:
    _edit(project, lambda d: d.update(version=3, created_by="9.0"))
    with pytest.raises(InputError) as err:
        load_project(project)
    message = _one_line(str(err.value))
    assert "version 3 (written by symbolic-v2m 9.0)" in message
    assert "reads (version 2)" in message and message.endswith("upgrade symbolic-v2m")
    assert main(["regenerate", str(project), "--only", "midi"]) == 1
    assert "upgrade symbolic-v2m" in _one_line(capsys.readouterr().err)


def test_an_unknown_old_schema_is_refused(project) -> None:
    _edit(project, lambda d: d.update(version=0))
    with pytest.raises(InputError, match=r"version 0 is older than any .* \(versions 1 to 2\)"):
        load_project(project)
    _edit(project, lambda d: d.update(version="1"))
    with pytest.raises(InputError, match="version: '1' is not a schema version"):
        load_project(project)


def test_older_versions_are_migrated_one_step_at_a_time(project, monkeypatch) -> None:
    """What version 3 will do: a step per version, applied in order, the result checked."""
    steps = []

    def v1_to_v2(doc: dict) -> dict:
        steps.append(1)
        doc["options"] = doc.pop("settings")  # say version 1 called the options "settings"
        return doc

    def v2_to_v3(doc: dict) -> dict:
        steps.append(doc["version"])
        doc["created_by"] = "migrated"
        return doc

    monkeypatch.setattr(project_module, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(project_module, "MIGRATIONS", {2: v2_to_v3})
    migrated = load_project(project)
    assert steps == [2] and migrated.version == 3 and migrated.created_by == "migrated"
    with pytest.raises(InputError, match=r"older than any .* \(versions 2 to 3\)"):
        load_project(_edit(project, lambda d: d.update(version=1)))
    steps.clear()
    monkeypatch.setattr(project_module, "MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    _edit(project, lambda d: d.update(settings=d.pop("options")))
    migrated = load_project(project)
    assert steps == [1, 2] and migrated.version == 3 and "style" in migrated.options
    # a step that finds no old layout: refused, naming the step
    _edit(project, lambda d: d.update(version=1, options=d.pop("settings")))
    with pytest.raises(InputError, match=r"bring project schema version 1 up to 2 \(KeyError"):
        load_project(project)


def test_a_version_1_file_opens_without_the_pictures(project) -> None:
    """Version 2 added the timeline picture's frames; a version-1 file has none, and opens."""
    _edit(project, lambda d: (d.update(version=1), d.pop("pictures", None)))
    loaded = load_project(project)
    assert loaded.version == 2 and loaded.pictures == []


def _set(path: str, value: object) -> Callable[[dict], None]:
    """An edit that sets the field at a dotted path (``score.melody.3.2``) to ``value``."""

    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[int(key)] if isinstance(doc, list) else doc[key]
        doc[int(last) if isinstance(doc, list) else last] = value

    return change


def _delete(path: str) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[int(key)] if isinstance(doc, list) else doc[key]
        del doc[last]

    return change


HAND_EDITS = [
    (_set("score.melody.3.2", 200), "score.melody[3]: pitch 200 out of range 0..127"),
    (_set("score.melody.3.0", -4), "score.melody[3]: onset -4 out of range 0.."),
    (_set("score.accompaniment.0.1", 17), "score.accompaniment[0]: duration 17 is not one of"),
    (_set("score.melody.0.3", 50), "score.melody[0]: velocity 50 is not one of"),
    (_set("score.melody.2", [1, 2]), "score.melody[2]: [...] is not a row of 4"),
    (_set("score.melody.2.2", "60"), 'score.melody[2]: pitch "60" is not an integer'),
    (_set("score.melody.2.2", 60.0), "score.melody[2]: pitch 60.0 is not an integer"),
    (_set("score.meters.1", "4/0"), "score.meters[1]: unsupported time signature 4/0"),
    (_set("score.meters.1", "7/8"), "score.meters[1]: meter 7/8 is not one of"),
    (_set("score.meters", []), "score.meters: no bars"),
    (_set("score.tempo.1.0", -32), "score.tempo[1]: tick -32 out of range"),
    (_set("score.tempo.1.1", float("nan")), "score.tempo[1]: seconds NaN is not a time"),
    (_set("score.chords.0.3", "maj13"), 'score.chords[0]: quality "maj13" is not one of'),
    (_set("score.keys.0.1", 12), "score.keys[0]: tonic 12 out of range 0..11"),
    (_set("score.ticks_per_beat", 8), "score.ticks_per_beat: 8; this build's grid has 4"),
    (_set("score.melody", {}), "score.melody: {...} is not a list"),
    (_delete("score.melody"), "score: missing field 'melody'"),
    (_delete("score"), "missing field 'score'"),
    (_set("score", None), "score: null is not an object"),
    (_set("tracks.0.program", 300), "tracks[0]: program 300 out of range 0..127"),
    (_delete("video.sha256"), "video: missing field 'sha256'"),
    (_set("timeline.density.melody", [1]), "timeline.density.melody: 1 values for"),
    (_delete("features.times"), "features: missing field 'times'"),
    (_set("seeds.chord", -1), "seeds.chord: seed -1 out of range 0.."),
    (_set("surprise", 1), "surprise: unknown field"),
]


@pytest.mark.parametrize(("change", "message"), HAND_EDITS, ids=[m for _, m in HAND_EDITS])
def test_a_hand_edited_field_is_named(project, change, message) -> None:
    _edit(project, change)
    with pytest.raises(InputError) as err:
        load_project(project)
    assert str(err.value).startswith(f"{project}: {message}")
    _one_line(str(err.value))


def test_a_hand_edit_in_the_history_is_named_and_refused_by_the_cli(project, capsys) -> None:
    assert _regen(project, "--bars", "1-2") == 0
    _edit(project, _set("history.0.previous_score.melody.3.2", 200))
    assert main(["regenerate", str(project), "--revert", "--only", "midi"]) == 1
    stderr = _one_line(capsys.readouterr().err)
    assert "history[0].previous_score.melody[3]: pitch 200 out of range 0..127" in stderr
    _edit(project, _set("history.0.previous_score.melody.3.2", 60))
    _edit(project, _set("score.meters.0", "4/0"))
    assert main(["evaluate", str(_exported(project)), "--project", str(project)]) == 1
    assert "score.meters[0]: unsupported time signature 4/0" in capsys.readouterr().err


def test_a_valid_project_round_trips(project) -> None:
    loaded = load_project(project)
    loaded.save(project.with_name("again.v2m.json"))
    assert load_project(project.with_name("again.v2m.json")) == loaded


# --- the video of a project ----------------------------------------------------------------


def _with_video(loaded: Project, path: Path) -> Project:
    return dataclasses.replace(loaded, video=loaded.video | {"path": str(path)})


def test_resolve_video_checks_place_and_content(project, tmp_path) -> None:
    loaded = load_project(project)
    recorded = Path(loaded.video["path"])
    assert resolve_video(loaded) == recorded
    moved = shutil.copy(recorded, tmp_path / "moved.mp4")
    gone = _with_video(loaded, tmp_path / "gone.mp4")
    assert resolve_video(gone, required=False) is None  # nothing needs it: nothing read
    with pytest.raises(InputError) as err:
        resolve_video(gone)
    assert str(err.value).startswith(f"{tmp_path / 'gone.mp4'}: the composition's video is not")
    assert "--video NEW_PATH" in str(err.value)
    assert resolve_video(gone, Path(moved)) == Path(moved)
    with pytest.raises(InputError, match="video not found"):
        resolve_video(gone, tmp_path / "nowhere.mp4")
    other = tmp_path / "other.mp4"
    other.write_bytes(Path(moved).read_bytes()[:-10])
    with pytest.raises(InputError) as err:
        resolve_video(gone, other)
    message = _one_line(str(err.value))
    assert message.startswith(f"{other}: not the video") and str(tmp_path / "gone.mp4") in message
    assert loaded.video["sha256"][:12] in message
    changed = _with_video(loaded, other)  # the file at the recorded path was replaced
    with pytest.raises(InputError, match="the video changed since it was composed"):
        resolve_video(changed)


PATCHED = "video" in {f.name for f in dataclasses.fields(RegenerateRequest)}


@pytest.mark.skipif(not PATCHED, reason="regenerate --video is not in compose.py / cli.py yet")
def test_regenerate_finds_a_moved_video_with_the_video_option(project, tmp_path, capsys) -> None:
    recorded = Path(load_project(project).video["path"])
    moved = tmp_path / "elsewhere.mp4"
    shutil.copy(recorded, moved)
    _edit(project, _set("video.path", str(tmp_path / "old" / "clip.mp4")))
    before = project.read_bytes()
    args = ["regenerate", str(project), "--stage", "accompaniment", "--only", "all"]
    assert main(args) == 1
    stderr = _one_line(capsys.readouterr().err)
    assert "is not there any more" in stderr and "--video NEW_PATH" in stderr
    assert project.read_bytes() == before
    assert _regen(project) == 0  # MIDI only: the video is not needed
    (tmp_path / "wrong.mp4").write_bytes(b"not it")
    assert _regen(project, "--video", str(tmp_path / "wrong.mp4")) == 1
    assert "not the video the composition was made from" in capsys.readouterr().err
    assert _regen(project, "--video", str(moved)) == 0
    assert load_project(project).video["path"] == str(moved.resolve())


def test_the_picture_frames_of_a_project_file_decode_only_as_the_picture_asks() -> None:
    """Frames are only ever shown: any that is not a JPEG of the picture's height, or that claims
    a size its header should not have, leaves the picture to decode the video, never an error
    or a large allocation."""
    frames = [np.full((PICTURE_HEIGHT, 160, 3), 40 * i, np.uint8) for i in range(3)]
    texts = encode_pictures(frames)
    decoded = decode_pictures(texts, 3)
    assert [f.shape for f in decoded] == [(PICTURE_HEIGHT, 160, 3)] * 3
    assert all(np.abs(a.astype(int) - b).max() <= 2 for a, b in zip(decoded, frames, strict=True))
    assert decode_pictures(texts[:2], 3) == ()  # not the picture's count
    forged = bytearray(base64.b64decode(texts[0]))
    at = forged.find(b"\xff\xc0")
    forged[at + 5 : at + 7] = (60000).to_bytes(2, "big")  # a header claiming 60000 rows
    for bad in (base64.b64encode(bytes(forged)).decode(), "not base64!", "", "AAAA"):
        assert decode_pictures([bad, *texts[1:]], 3) == ()
    small = encode_pictures([np.zeros((45, 80, 3), np.uint8)])
    assert decode_pictures(small, 1) == ()  # another height
