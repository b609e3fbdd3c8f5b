"""Video fit and control adherence, on hand-made MIDI files with known tempo maps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation import EvaluateConfig, evaluate, read_piece
from symbolic_v2m.evaluation.adherence import adherence
from symbolic_v2m.evaluation.video_fit import cut_recall, video_fit
from symbolic_v2m.project import load_project
from symbolic_v2m.video.features import Cut, Shot, VideoFeatures, VideoInfo, VisualBeat


def _two_tempo_midi(path: Path) -> Path:
    """4/4, two bars at 120 BPM then bars at 90 BPM; a quarter note on every beat."""
    tpb = 480
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=8 * tpb))
    notes = mido.MidiTrack([mido.MetaMessage("track_name", name="Piano", time=0)])
    for _ in range(16):
        notes.append(mido.Message("note_on", note=60, velocity=80, time=0))
        notes.append(mido.Message("note_off", note=60, velocity=0, time=tpb))
    mid = mido.MidiFile(ticks_per_beat=tpb, tracks=[meta, notes])
    mid.save(path)
    return path


def test_cut_on_a_bar_line_of_a_known_tempo_map_is_recalled(tmp_path) -> None:
    piece = read_piece(_two_tempo_midi(tmp_path / "t.mid"))
    # bar 3 starts after 8 beats at 120 (4 s) plus 4 beats at 90 (2.667 s)
    bar_line = 4.0 + 4 * 60 / 90
    beat, downbeat, spaced = cut_recall(np.array([2.0, 4.0, bar_line]), piece)
    assert (beat, downbeat, spaced) == (1.0, 1.0, 1.0)
    # a beat but not a bar line at 90 BPM: 4 s + 1 beat
    beat, downbeat, _ = cut_recall(np.array([4.0 + 60 / 90]), piece)
    assert (beat, downbeat) == (1.0, 0.0)


def test_cuts_between_beats_at_120_bpm_are_not_recalled(tmp_path) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0, name="Piano")
    inst.notes = [pretty_midi.Note(80, 60, t * 0.5, t * 0.5 + 0.4) for t in range(16)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "p.mid"))
    piece = read_piece(tmp_path / "p.mid")
    np.testing.assert_allclose(piece.beats[:4], [0.0, 0.5, 1.0, 1.5])
    beat, downbeat, _ = cut_recall(np.array([0.25, 1.25, 3.75, 5.2 + 0.05]), piece)
    assert beat == 0.0 and downbeat == 0.0
    # the tolerance is 0.1 s: 0.09 s off a beat counts, 0.12 s does not
    assert cut_recall(np.array([1.09]), piece)[0] == 1.0
    assert cut_recall(np.array([1.12]), piece)[0] == 0.0


def _features(
    duration: float, speeds_per_second: list[float], beats, cuts=(), fades=()
) -> VideoFeatures:
    fps = 10
    n = int(duration * fps)
    times = tuple(i / fps for i in range(n))
    flow = tuple(speeds_per_second[int(t)] for t in times)
    info = VideoInfo(
        "v.mp4", 640, 360, 0, "h264", Fraction(fps), "container", duration, n, 320, 180, False
    )
    shot = Shot(0.0, duration, 0, n, 0.5, 0.5, 0.3, 0.2, float(np.mean(flow)))
    visual = tuple(VisualBeat(t, int(t * fps), w) for t, w in beats)
    cut_list = tuple(Cut(t, int(t * fps), 0.8) for t in cuts)
    cut_list += tuple(Cut(t, int(t * fps), 0.3, kind="fade") for t in fades)
    return VideoFeatures(info, times, flow, (0.0,) * n, visual, 120.0, 0.5, cut_list, (shot,))


def test_only_cuts_a_bar_from_every_transition_count_as_spaced(tmp_path) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)  # 4/4: a bar is 2 s
    inst = pretty_midi.Instrument(0, name="Piano")
    inst.notes = [pretty_midi.Note(80, 60, t * 0.5, t * 0.5 + 0.4) for t in range(32)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "p.mid"))
    piece = read_piece(tmp_path / "p.mid")
    speeds = [0.1] * 17
    # 4.0 and 4.5 are half a bar apart: neither is spaced; 10.0 is, until a fade comes near
    fit = video_fit(piece, _features(16.0, speeds, [], cuts=(4.0, 4.5, 10.0), fades=(13.0,)))
    assert fit["cut_beat_recall"] == 1.0
    assert fit["cut_downbeat_recall"] == pytest.approx(2 / 3)
    assert fit["spaced_cuts"] == 1 and fit["cut_downbeat_recall_spaced"] == 1.0
    near = video_fit(piece, _features(16.0, speeds, [], cuts=(4.0, 4.5, 10.0), fades=(10.5,)))
    assert near["spaced_cuts"] == 0 and np.isnan(near["cut_downbeat_recall_spaced"])


def test_density_correlation_strong_beats_and_length(tmp_path) -> None:
    """8 bars of 2 s at 120 BPM; bar b has b + 1 onsets; loud chords on two of them."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0, name="Piano")
    for bar in range(8):
        for k in range(bar + 1):
            start = bar * 2.0 + k * 0.25
            inst.notes.append(pretty_midi.Note(50, 60 + k, start, start + 0.2))
    for t in (2.25, 9.0):  # onsets of bars 1 and 4: the per-bar counts stay b + 1
        inst.notes += [pretty_midi.Note(127, p, t, t + 0.5) for p in (48, 52, 55, 60)]
    inst.notes.sort(key=lambda n: n.start)
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "d.mid"))
    piece = read_piece(tmp_path / "d.mid")
    rising = [b // 2 * 0.1 for b in range(16)]  # 2 s per bar -> one speed per bar
    # strong visual beats (weight >= median) at 2.25 and 9.06 s (within a 16th = 0.125 s),
    # weak ones at 5.0 and 7.0 s, and a strong one at 13.5 s where the music is quiet
    beats = [(2.25, 1.0), (9.06, 0.9), (5.0, 0.1), (7.0, 0.2), (13.5, 0.95)]
    fit = video_fit(piece, _features(16.5, rising + [1.0], beats, cuts=(4.0, 8.0)))
    assert fit["density_speed_spearman"] == pytest.approx(1.0)
    assert fit["cut_beat_recall"] == 1.0 and fit["cut_downbeat_recall"] == 1.0
    assert fit["strong_visual_beats_met"] == pytest.approx(2 / 3)
    assert fit["length_mismatch"] == pytest.approx(piece.end - 16.5)
    falling = video_fit(piece, _features(16.5, rising[::-1] + [0.0], beats))
    assert falling["density_speed_spearman"] == pytest.approx(-1.0)


def test_density_is_judged_per_beat_so_a_short_bar_is_not_a_sparse_bar(tmp_path) -> None:
    """Five 4/4 bars with 2, 4, .. 10 onsets, then a 2/4 bar with 6 (3 a beat: the busiest):
    per beat the densities rise with the speed throughout; per bar the short one would not."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes = [
        pretty_midi.TimeSignature(4, 4, 0.0),
        pretty_midi.TimeSignature(2, 4, 10.0),
    ]
    inst = pretty_midi.Instrument(0, name="Piano")
    counts = [2, 4, 6, 8, 10, 6]
    for bar, count in enumerate(counts):
        start, length = bar * 2.0, (2.0 if bar < 5 else 1.0)
        step = length / count
        inst.notes += [
            pretty_midi.Note(80, 60 + k % 12, start + k * step, start + (k + 0.8) * step)
            for k in range(count)
        ]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "short_bar.mid"))
    piece = read_piece(tmp_path / "short_bar.mid")
    assert piece.n_bars == 6
    assert np.histogram(piece.beats, bins=piece.bar_edges())[0].tolist() == [4] * 5 + [2]
    speeds = [0.1 * (bar + 1) for bar in range(5) for _second in range(2)] + [0.9]
    fit = video_fit(piece, _features(11.0, speeds, [(1.0, 1.0)]))
    assert fit["density_speed_spearman"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def composition(varied_clip, tiny_weights, tmp_path_factory):
    clip, _ = varied_clip
    out = tmp_path_factory.mktemp("eval")
    config = ComposeConfig(
        weights_dir=str(tiny_weights), candidates=1, seed=3, outputs=("midi", "project")
    )
    result = compose(clip.path, out, config)
    return clip, result.files["midi"], result.files["project"]


def test_composed_midi_meets_its_controls_and_an_edit_shows(composition, tmp_path) -> None:
    _, midi, project_path = composition
    project = load_project(project_path)
    scores = adherence(read_piece(midi), project)
    # the sampler forces every bar's density and every forced strength
    assert scores["melody_density_exact"] == 1.0 and scores["melody_density_error"] == 0.0
    assert scores["accompaniment_density_exact"] == 1.0
    assert scores["strength_exact"] == 1.0 and scores["strength_error"] == 0.0
    # delete the melody of its busiest bar in the file: that bar alone now misses
    pm = pretty_midi.PrettyMIDI(str(midi))
    melody = next(i for i in pm.instruments if i.name == "Melody")
    downbeats = list(pm.get_downbeats()) + [1e9]
    per_bar = np.histogram([n.start for n in melody.notes], bins=downbeats)[0]
    bar = int(np.argmax(per_bar))
    melody.notes = [
        n for n in melody.notes if not downbeats[bar] - 1e-6 <= n.start < downbeats[bar + 1] - 1e-6
    ]
    pm.write(str(tmp_path / "edited.mid"))
    edited = adherence(read_piece(tmp_path / "edited.mid"), project)
    n_bars = len(project.timeline["meters"])
    assert edited["melody_density_exact"] == pytest.approx(1 - 1 / n_bars)
    assert edited["melody_density_error"] > 0


def test_evaluate_command_prints_every_group_and_writes_json(composition, tmp_path, capsys):
    clip, midi, project = composition
    out = tmp_path / "e.json"
    args = ["evaluate", str(midi), "--video", str(clip.path), "--project", str(project)]
    assert main([*args, "--reference", str(Path(midi).parent), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in ("music", "video fit", "control adherence", "cut_downbeat_recall"):
        assert heading in printed
    report = evaluate(midi, EvaluateConfig(video=clip.path, project=project))
    import json

    saved = json.loads(out.read_text())
    assert saved["video_fit"]["cut_downbeat_recall"] == report.video_fit["cut_downbeat_recall"]
    assert saved["reference"]["size"] == 1  # the folder holds just this MIDI: gap 0
    assert all(abs(g) < 1e-9 for g in saved["reference"]["gap"].values() if g is not None)
    assert main([*args, "--json", str(out)]) == 1  # exists, no --force
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["nothere.mid"], "nothere.mid: MIDI file not found", 1),
        (["--reference", "pop909-test"], "--pop909", 2),
    ],
)
def test_evaluate_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message, code):
    monkeypatch.delenv("SYMBOLIC_V2M_POP909", raising=False)
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    argv = ["evaluate", *(args if args[0].endswith(".mid") else [str(junk), *args])]
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unreadable_midi_is_an_input_error(tmp_path, capsys) -> None:
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    assert main(["evaluate", str(junk)]) == 1
    assert "not a readable MIDI file" in capsys.readouterr().err
