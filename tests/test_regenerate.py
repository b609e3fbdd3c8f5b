"""Regeneration: spans stay spliced exactly, variations, revert, and the DAW round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.project import load_project


def _notes(midi: Path) -> dict[str, set[tuple[float, int, float]]]:
    pm = pretty_midi.PrettyMIDI(str(midi))
    return {
        inst.name: {(round(n.start, 4), n.pitch, round(n.end, 4)) for n in inst.notes}
        for inst in pm.instruments
    }


def _bar_seconds(project: Path, first: int, last: int) -> tuple[float, float]:
    score = load_project(project).music()
    starts = [b.start for b in score.bars()] + [score.length]
    return score.seconds(starts[first - 1]), score.seconds(starts[last])


def _regen(project: Path, *args: str) -> int:
    return main(["regenerate", str(project), "--only", "midi", *args])


def test_regenerating_bars_leaves_every_other_note_identical(project) -> None:
    midi = project.with_name(project.name.replace(".v2m.json", ".mid"))
    before = _notes(midi)
    original = midi.read_bytes()
    old_score = load_project(project).music()
    assert _regen(project, "--bars", "3-5", "--seed", "9") == 0
    new_score = load_project(project).music()
    a, b = [bar.start for bar in old_score.bars()][2], [bar.end for bar in old_score.bars()][4]
    for part in ("melody", "accompaniment"):
        keep = [n for n in getattr(old_score, part) if not a <= n.onset < b]
        assert keep == [n for n in getattr(new_score, part) if not a <= n.onset < b]

    def before_span(chords):  # a chord sounding into the span is cut at its edge
        return [(c.onset, min(c.offset, a), c.label) for c in chords if c.onset < a]

    assert before_span(old_score.chords) == before_span(new_score.chords)
    after = _notes(midi)
    start, end = _bar_seconds(project, 3, 5)
    changed = False

    def outside(notes: set) -> set:
        # a note that starts before the span sounds until a note of the same pitch starts (MIDI
        # cannot overlap them), which may be a regenerated one: compare its start and pitch
        return {
            (on, pitch, off if on >= end - 1e-3 else None)
            for on, pitch, off in notes
            if not start - 1e-3 <= on < end - 1e-3
        }

    for track in ("Melody", "Accompaniment"):
        assert outside(before[track]) == outside(after[track]), track
        changed |= before[track] != after[track]
    assert changed, "the span was not regenerated"
    history = load_project(project).history
    assert history[-1]["bars"] == [3, 5] and history[-1]["seed"] == 9
    assert _regen(project, "--revert") == 0
    assert midi.read_bytes() == original
    assert load_project(project).history == []


def test_one_stage_with_keep_and_variations(project) -> None:
    midi = project.with_name(project.name.replace(".v2m.json", ".mid"))
    before = _notes(midi)
    assert _regen(project, "--stage", "melody", "--keep", "--variations", "3") == 0
    after = _notes(midi)
    assert after["Accompaniment"] == before["Accompaniment"]
    assert after["Melody"] != before["Melody"]
    variations = [midi.with_name(midi.name.replace(".mid", f".var{i}.mid")) for i in (2, 3)]
    assert all(v.is_file() for v in variations)
    assert _notes(variations[0])["Melody"] != after["Melody"]


def test_daw_edited_melody_is_kept_and_accompaniment_regenerated(project, tmp_path) -> None:
    midi = project.with_name(project.name.replace(".v2m.json", ".mid"))
    pm = pretty_midi.PrettyMIDI(str(midi))
    melody = next(i for i in pm.instruments if i.name == "Melody")
    beat = 60 / load_project(project).music().tempo.tempo_changes()[0][1]
    melody.name = "Lead vocal line"  # renamed: matched by its program instead
    del melody.notes[0]
    moved = melody.notes[0]
    moved.start, moved.end = moved.start + beat / 4, moved.end + beat / 4
    moved.pitch += 2
    melody.notes.append(pretty_midi.Note(100, 79, 2 * beat, 2.5 * beat))
    pm.instruments.append(pretty_midi.Instrument(program=40, name="My violin idea"))
    pm.instruments[-1].notes.append(pretty_midi.Note(80, 70, 0.0, 1.0))
    edited = tmp_path / "edited.mid"
    pm.write(str(edited))
    expected = sorted((round(n.start, 3), n.pitch) for n in melody.notes)
    before = _notes(midi)["Accompaniment"]

    assert _regen(project, "--stage", "accompaniment", "--from-midi", str(edited)) == 0
    after = pretty_midi.PrettyMIDI(str(midi))
    new_melody = next(i for i in after.instruments if i.name == "Melody")
    assert sorted((round(n.start, 3), n.pitch) for n in new_melody.notes) == expected
    assert _notes(midi)["Accompaniment"] != before


def test_a_changed_tempo_map_is_refused(project, tmp_path, capsys) -> None:
    midi = project.with_name(project.name.replace(".v2m.json", ".mid"))
    pm = pretty_midi.PrettyMIDI(str(midi))
    slower = pretty_midi.PrettyMIDI(initial_tempo=70)
    slower.instruments = pm.instruments
    edited = tmp_path / "slower.mid"
    slower.write(str(edited))
    before = project.read_bytes()
    assert _regen(project, "--stage", "accompaniment", "--from-midi", str(edited)) == 1
    assert "tempo map" in capsys.readouterr().err
    assert project.read_bytes() == before


@pytest.mark.parametrize(
    "args, option",
    [
        (["--bars", "40-20"], "--bars"),
        (["--bars", "1-400"], "--bars"),
        (["--progression", "i XYZ"], "--progression"),
        (["--key", "H major"], "--key"),
        (["--section", "99"], "--section"),
        (["--bars", "1-2", "--time", "0:01-0:02"], "at most one"),
    ],
)
def test_invalid_regeneration_input(project, capsys, args, option) -> None:
    before = {p.name: p.read_bytes() for p in project.parent.iterdir()}
    assert _regen(project, *args) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in project.parent.iterdir()} == before


def test_the_picture_is_redrawn_from_the_project_without_decoding_the_video(
    project, monkeypatch
) -> None:
    """The project keeps the picture's frames; a regeneration draws them as they were (JPEG)
    and decodes the video only when they are missing or damaged."""
    from symbolic_v2m.export import plot
    from symbolic_v2m.video.analyze import analyze_video

    loaded = load_project(project)
    kept = analyze_video(Path(loaded.video["path"])).pictures
    assert len(loaded.pictures) == len(kept) == 8  # 15 s: 8 spans of about 2 s
    grabbed: list[float] = []
    drawn: list[tuple] = []
    original_grab, original_plot = plot.grab_thumbnails, plot.write_timeline_plot

    def grab(video, times):
        grabbed.extend(times)
        return original_grab(video, times)

    def draw(features, *args, **kwargs):
        drawn.append(features.pictures)
        return original_plot(features, *args, **kwargs)

    monkeypatch.setattr(plot, "grab_thumbnails", grab)
    monkeypatch.setattr("symbolic_v2m.compose.write_timeline_plot", draw)
    argv = ["regenerate", str(project), "--bars", "2-3", "--only", "all"]
    assert main([*argv, "--seed", "3", "-q"]) == 0
    assert grabbed == [] and len(drawn[-1]) == 8
    # the same frames, through JPEG (a few levels off on this noise-like texture; the frame of
    # another shot, another texture, is tens of levels off)
    for i, (shown, frame) in enumerate(zip(drawn[-1], kept, strict=True)):
        assert shown.shape == frame.shape
        assert np.abs(shown.astype(int) - frame).mean() < 6
        assert np.abs(shown.astype(int) - kept[(i + 2) % len(kept)]).mean() > 15
    doc = json.loads(project.read_text())
    doc["pictures"][0] = "not a picture"
    project.write_text(json.dumps(doc))
    assert main([*argv, "--seed", "4", "-q"]) == 0  # a damaged frame costs a decode, not an error
    assert len(grabbed) == 8 and drawn[-1] == ()
