"""End to end: compose a soundtrack for a synthetic video, judged from the files themselves."""

from __future__ import annotations

import mido
import numpy as np
import pretty_midi
import pytest
from scipy.stats import spearmanr

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation import read_piece
from symbolic_v2m.evaluation.video_fit import video_fit
from symbolic_v2m.project import load_project
from symbolic_v2m.video import analyze_video


@pytest.fixture(scope="module")
def composed(varied_clip, tiny_weights, tmp_path_factory):
    clip, _ = varied_clip
    out = tmp_path_factory.mktemp("out")
    config = ComposeConfig(weights_dir=str(tiny_weights), candidates=2, seed=7)
    result = compose(clip.path, out, config)
    return result, out


def test_all_outputs_are_written(composed, varied_clip) -> None:
    result, out = composed
    clip, _ = varied_clip
    names = {p.name for p in out.iterdir()}
    stem = clip.path.stem
    assert {f"{stem}.mid", f"{stem}.musicxml", f"{stem}.png", f"{stem}.v2m.json"} <= names
    if result.warnings:  # FluidSynth or ffmpeg missing: said, and the rest still written
        assert all(w.startswith(("no audio", "no video")) for w in result.warnings)
    else:
        assert {f"{stem}.wav", f"{stem}.mp4"} <= names
    assert not [n for n in names if n.startswith(".")], "no temp files left behind"


def test_midi_length_and_cuts_follow_the_video(composed, varied_clip) -> None:
    result, _ = composed
    clip, _ = varied_clip
    midi_path = result.files["midi"]
    duration = clip.frame_count / float(clip.fps)
    length = mido.MidiFile(str(midi_path)).length
    pm = pretty_midi.PrettyMIDI(str(midi_path))
    beats = pm.get_beats()
    beat = float(np.median(np.diff(beats)))
    assert abs(length - duration) <= beat
    downbeats = pm.get_downbeats()
    for cut in clip.cut_times:
        assert np.min(np.abs(downbeats - cut)) <= 0.1, (cut, downbeats)
        assert np.min(np.abs(beats - cut)) <= 0.1


def test_density_follows_flow_speed(composed, varied_clip) -> None:
    result, _ = composed
    pm = pretty_midi.PrettyMIDI(str(result.files["midi"]))
    downbeats = list(pm.get_downbeats()) + [result.timeline.duration]
    onsets = sorted(
        {
            round(n.start, 4)
            for inst in pm.instruments
            if not inst.is_drum and inst.name in ("Melody", "Accompaniment")
            for n in inst.notes
        }
    )
    per_bar = np.histogram(onsets, bins=downbeats)[0]
    speeds = np.array(result.timeline.bar_speed)
    assert len(per_bar) == len(speeds)
    rho = spearmanr(per_bar, speeds).statistic
    assert rho >= 0.6, (rho, per_bar, speeds)
    assert per_bar[speeds < 0.01].mean() < per_bar[speeds > 0.3].mean()


def test_project_file_describes_the_composition(composed, varied_clip) -> None:
    result, out = composed
    clip, _ = varied_clip
    project = load_project(result.files["project"])
    assert project.video["name"] == clip.path.name and len(project.video["sha256"]) == 64
    assert project.music() == result.score
    assert set(project.seeds) == {"chord", "melody", "accompaniment"}
    assert project.options["seed"] == 7


def test_same_seed_gives_byte_identical_midi(varied_clip, tiny_weights, tmp_path) -> None:
    clip, _ = varied_clip
    config = ComposeConfig(weights_dir=str(tiny_weights), seed=3, outputs=("midi",))
    a = compose(clip.path, tmp_path / "a", config).files["midi"].read_bytes()
    b = compose(clip.path, tmp_path / "b", config).files["midi"].read_bytes()
    assert a == b
    other = ComposeConfig(weights_dir=str(tiny_weights), seed=4, outputs=("midi",))
    assert compose(clip.path, tmp_path / "c", other).files["midi"].read_bytes() != a


def test_cli_compose_refuses_to_overwrite_and_validates_options(
    varied_clip, tmp_path, capsys
) -> None:
    clip, _ = varied_clip
    out = tmp_path / "cli"
    out.mkdir()
    (out / f"{clip.path.stem}.mid").write_bytes(b"mine")
    assert main(["compose", str(clip.path), "--out", str(out), "--only", "midi"]) == 1
    assert "exists" in capsys.readouterr().err
    assert (out / f"{clip.path.stem}.mid").read_bytes() == b"mine"
    assert main(["compose", str(clip.path), "--only", "midi,flac"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["compose", str(clip.path), "--key", "H major"]) == 2
    assert "--key" in capsys.readouterr().err
    assert main(["compose", str(clip.path), "--instrument", "melody=kazoo-9000"]) == 2


def test_musescore_opens_the_composed_midi(composed, tmp_path) -> None:
    import os
    import shutil
    import subprocess

    import music21

    result, _ = composed
    mscore = shutil.which("mscore3")
    if mscore is None:
        pytest.skip("mscore3 not on PATH (make setup installs Debian's musescore3)")
    out = tmp_path / "imported.musicxml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run(
        [mscore, "-o", str(out), str(result.files["midi"])],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert out.is_file(), "MuseScore did not convert the MIDI"
    parsed = music21.converter.parse(str(out))
    names = [p.partName or "" for p in parsed.parts]
    for track in ("Melody", "Accompaniment", "Bass", "Pad"):
        assert any(n.endswith(track) for n in names), (track, names)
    marks = parsed.flatten().getElementsByClass(music21.tempo.MetronomeMark)
    first = result.timeline.tempo.tempo_changes()[0][1]
    assert marks and abs(marks[0].number - first) <= 1.5
    assert music21.converter.parse(str(result.files["midi"])).parts


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name", ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "counter.mp4", "fades.mp4"]
)
def test_shared_clips_cuts_land_on_downbeats_and_density_follows_motion(
    name, tiny_weights, tmp_path
) -> None:
    from tests.conftest import SHARED

    video = SHARED / "videos" / name
    config = ComposeConfig(weights_dir=str(tiny_weights), outputs=("midi",))
    result = compose(video, tmp_path, config)
    pm = pretty_midi.PrettyMIDI(str(result.files["midi"]))
    downbeats, beats = pm.get_downbeats(), pm.get_beats()
    length = mido.MidiFile(str(result.files["midi"])).length
    assert abs(length - result.timeline.duration) <= float(np.median(np.diff(beats)))
    cuts = sorted(c.time for c in result.timeline.cuts)
    bar = 4 * 60 / result.timeline.base_qpm
    for i, cut in enumerate(cuts):
        assert np.min(np.abs(beats - cut)) <= 0.1, (name, cut)
        neighbours = [0.0, *cuts[:i], *cuts[i + 1 :], result.timeline.duration]
        if min(abs(cut - n) for n in neighbours) >= bar:
            assert np.min(np.abs(downbeats - cut)) <= 0.1, (name, cut, downbeats)
    if name in ("testvideo.mp4", "goldeneye-vfr-drop3.mp4"):  # real footage, varied motion
        fit = video_fit(read_piece(result.files["midi"]), analyze_video(video))
        assert fit["density_speed_spearman"] >= 0.6, (name, fit)
