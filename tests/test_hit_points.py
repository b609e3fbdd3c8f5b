"""Hit points: strong visual beats and the user's ``--hit`` times, accented in every part.

Judged from the written files: the MIDI read back with pretty_midi (an accent within a 32nd
note of the moment on every pitched track that sounds there, a percussion stroke, a melody
onset), its markers, the MusicXML's rehearsal marks, and the accent contrast of
:func:`~symbolic_v2m.evaluation.video_fit.accent_contrast`.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest

from symbolic_v2m.arrangement import CRASH, HIT_VELOCITY, KICK
from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation.piece import read_piece
from symbolic_v2m.evaluation.video_fit import accent_contrast
from symbolic_v2m.quiet_import import quiet_import
from symbolic_v2m.timeline.hits import HitPoint, hit_points, parse_hit_time
from symbolic_v2m.video.features import VisualBeat
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

pretty_midi = quiet_import("pretty_midi")

#: flashes (seconds into the clip) and a user's hit point, away from the cut at 6 s
FLASHES = (2.5, 8.25)
USER_HIT = "0:04.6"


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory) -> Path:
    shots = [
        SyntheticShot(6.0, speed=0.1, direction=20.0, seed=4, flashes=(FLASHES[0],)),
        SyntheticShot(5.0, speed=0.2, direction=200.0, seed=6, flashes=(FLASHES[1] - 6.0,)),
    ]
    folder = tmp_path_factory.mktemp("flash")
    return write_synthetic_clip(folder / "flash.mp4", shots, fps=Fraction(25)).path


def _markers(path: Path) -> list[str]:
    """The MIDI file's marker texts (pretty_midi does not read markers; mido does)."""
    return [
        m.text
        for track in mido.MidiFile(str(path), charset="utf-8").tracks
        for m in track
        if m.type == "marker"
    ]


def _sounding(notes, t: float) -> bool:
    return any(n.start - 1e-6 <= t < n.end for n in notes)


def _check_accents(midi_path: Path, moments: list[float]) -> None:
    """At each moment: every pitched track that sounds there strikes an accented note within a
    32nd of it, the melody strikes, the percussion plays crash and kick."""
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    beat = 60.0 / midi.get_tempo_changes()[1][0]
    for t in moments:
        tolerance = beat / 8 + 1e-3  # a 32nd note (tempo changes are small at a hit)
        tracks = {i.name: i for i in midi.instruments}
        melody = [n for n in tracks["Melody"].notes if abs(n.start - t) <= tolerance]
        assert melody, f"no melody onset at {t}"
        for instrument in midi.instruments:
            struck = [n for n in instrument.notes if abs(n.start - t) <= tolerance]
            if instrument.is_drum:
                assert {CRASH, KICK} <= {n.pitch for n in struck}, (instrument.name, t)
            elif _sounding(instrument.notes, t + tolerance):
                assert struck, (instrument.name, t)
                assert max(n.velocity for n in struck) >= HIT_VELOCITY, (instrument.name, t)


def test_hit_times_are_read_in_every_form() -> None:
    assert parse_hit_time("12.5") == 12.5
    assert parse_hit_time("0:12.5") == 12.5
    assert parse_hit_time("1:02") == 62.0
    assert parse_hit_time("00:00:12:12", fps=25) == pytest.approx(12.48)
    assert parse_hit_time("01:00:00;15", fps=30000 / 1001) == pytest.approx(
        3600 + 15 * 1001 / 30000
    )
    with pytest.raises(ValueError, match="frame 25 does not exist"):
        parse_hit_time("00:00:01:25", fps=25)
    for bad in ("soon", "1:75", "-3", "1:2:3", ""):
        with pytest.raises(ValueError, match="give seconds"):
            parse_hit_time(bad)


def test_hit_points_sit_on_the_nearest_16th_one_per_tick() -> None:
    from symbolic_v2m.music.score import TempoMap

    tempo = TempoMap(((0, 0.0), (4, 0.5)))  # 120 BPM: a 16th is 0.125 s
    beats = [VisualBeat(1.06, 26, 0.95), VisualBeat(2.0, 50, 0.5), VisualBeat(3.01, 75, 1.0)]
    hits = hit_points(beats, [3.0, 0.52], tempo, length=64, threshold=0.8)
    assert hits == (
        HitPoint(0.52, 4, "user"),
        HitPoint(1.06, 8, "visual", 0.95),
        HitPoint(3.0, 24, "user"),  # the user's wins a shared tick
    )
    for hit in hits:
        assert abs(tempo.seconds(hit.tick) - hit.time) <= 0.0625 + 1e-9  # a 32nd


def test_flashes_and_user_hits_are_heard_in_every_part(flash_clip, tiny_weights, tmp_path):
    out = tmp_path / "o"
    config = ComposeConfig(
        weights_dir=str(tiny_weights),
        outputs=("midi", "musicxml", "project"),
        hits=(USER_HIT,),
        seed=2,
    )
    result = compose(flash_clip, out, config)
    hits = result.timeline.hits
    assert [h.source for h in hits].count("user") == 1
    visual = [h.time for h in hits if h.source == "visual"]
    assert [round(t, 1) for t in visual] == [round(t, 1) for t in FLASHES]
    _check_accents(out / "flash.mid", [result.timeline.tempo.seconds(h.tick) for h in hits])
    tempo = result.timeline.tempo
    for hit in hits:  # on the grid, within a 32nd of the frame (half a tick, a 16th)
        thirty_second = tempo.seconds(hit.tick + 0.5) - tempo.seconds(hit.tick)
        assert abs(tempo.seconds(hit.tick) - hit.time) <= thirty_second + 1e-6
    # markers in the MIDI and rehearsal marks in the MusicXML
    marks = [m for m in _markers(out / "flash.mid") if m.startswith("Hit")]
    assert len(marks) == 3 and sum("(yours)" in m for m in marks) == 1
    xml = (out / "flash.musicxml").read_text()
    assert all(m in xml for m in marks)
    project = json.loads((out / "flash.v2m.json").read_text())
    assert project["options"]["hits"] == [USER_HIT] and len(project["timeline"]["hits"]) == 3


def test_hit_points_off_means_none(flash_clip, tiny_weights, tmp_path):
    """With the threshold above 1 and no --hit there are no hit points and no hit markers."""
    config = ComposeConfig(
        weights_dir=str(tiny_weights), outputs=("midi",), seed=2, hit_threshold=1.5
    )
    result = compose(flash_clip, tmp_path / "a", config)
    assert result.timeline.hits == ()
    assert _markers(tmp_path / "a" / "flash.mid")  # cuts and sections
    assert not [m for m in _markers(tmp_path / "a" / "flash.mid") if m.startswith("Hit")]


def test_between_hit_points_the_arrangement_does_not_change(flash_clip, tiny_weights, tmp_path):
    """The same score arranged with and without hit points: every note that neither starts
    on a hit tick nor is held through one is the same note, at the same velocity."""
    from symbolic_v2m.arrangement import arrange

    config = ComposeConfig(weights_dir=str(tiny_weights), outputs=("midi",), seed=2)
    score = compose(flash_clip, tmp_path / "o", config).score
    ticks = (12, 40, 77)
    plain, accented = arrange(score), arrange(score, hit_ticks=ticks)
    for before, after in zip(plain.tracks, accented.tracks, strict=True):
        touched = [n for n in before.notes if any(n.onset <= t < n.offset for t in ticks)]
        away = [n for n in before.notes if n not in touched]
        assert set(away) <= set(after.notes), before.name
        extra = [n for n in after.notes if n not in set(away)]
        if after.is_drum:  # the accent strokes, on the hit points only
            assert extra and all(n.onset in ticks for n in extra), before.name
            continue
        for note in extra:  # a touched note accented, or split at the hit point: same pitch
            assert any(
                t.pitch == note.pitch and t.onset <= note.onset and note.offset <= t.offset
                for t in touched
            ), (before.name, note)
        assert len(extra) >= len(touched), before.name  # nothing touched was dropped


def test_default_models_make_every_hit_point_stand_out(flash_clip, tmp_path) -> None:
    """The acceptance figure, with the shipped models and the defaults: contrast >= 1.5."""
    config = ComposeConfig(outputs=("midi",), hits=(USER_HIT,), seed=1)
    result = compose(flash_clip, tmp_path / "o", config)
    piece = read_piece(tmp_path / "o" / "flash.mid")
    moments = np.array([result.timeline.tempo.seconds(h.tick) for h in result.timeline.hits])
    assert len(moments) == 3
    contrast = accent_contrast(piece, moments)
    assert np.all(contrast >= 1.5), contrast


def test_hit_option_errors_are_one_line_exit_2(flash_clip, tmp_path, capsys) -> None:
    for value, said in (
        ("soon", "give seconds"),
        ("0:30", "the video is 11.00 s long"),
        ("00:00:02:25", "frame 25 does not exist at 25.000 fps"),
    ):
        code = main(["compose", str(flash_clip), "--out", str(tmp_path / "o"), "--hit", value])
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert code == 2 and said in last and "--hit" in last, err
        if value != "soon":  # found once the video is known: one line
            assert err.count("\n") == 1 and err.startswith("error: "), err
        assert not (tmp_path / "o").exists()


def test_regenerate_keeps_the_project_hits_and_adds_new_ones(flash_clip, tiny_weights, tmp_path):
    out = tmp_path / "o"
    argv = ["compose", str(flash_clip), "--out", str(out), "--weights", str(tiny_weights)]
    assert main([*argv, "--only", "midi,project", "--hit", USER_HIT, "-q"]) == 0
    project = out / "flash.v2m.json"
    before = json.loads(project.read_text())
    assert len(before["timeline"]["hits"]) == 3
    new_hit = 9.7
    argv = ["regenerate", str(project), "--time", "0:09-0:11", "--hit", str(new_hit), "-q"]
    assert main(argv) == 0
    after = json.loads(project.read_text())
    assert after["options"]["hits"] == [USER_HIT, str(new_hit)]
    times = sorted(h["time"] for h in after["timeline"]["hits"])
    assert 4.6 in times and new_hit in times
    ticks = {h["time"]: h["tick"] for h in after["timeline"]["hits"]}
    anchors = np.array(after["timeline"]["tempo"], dtype=float)
    seconds = float(np.interp(ticks[new_hit], anchors[:, 0], anchors[:, 1]))
    _check_accents(out / "flash.mid", [seconds])  # regenerated over its span: fully heard
    # a later regeneration keeps both
    assert main(["regenerate", str(project), "--bars", "1-2", "-q"]) == 0
    assert json.loads(project.read_text())["options"]["hits"] == [USER_HIT, str(new_hit)]
