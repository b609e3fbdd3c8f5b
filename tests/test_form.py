"""The form follows the edit: scenes that return, the form plan, music that returns (read from
the written MIDI), regeneration that keeps the form, and the recurrence metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation.music import (
    aligned_similarity,
    bar_onset_sets,
    jaccard,
    recurrence,
    recurrence_of,
)
from symbolic_v2m.evaluation.piece import read_piece
from symbolic_v2m.music.score import Note, TimeSignature
from symbolic_v2m.project import load_project
from symbolic_v2m.stages.repeat import fit_accompaniment_bar, fit_melody_bar
from symbolic_v2m.timeline.form import (
    STAGES,
    FormConfig,
    parse_form,
    plan_form,
    pop_labels,
    section_labels,
)
from symbolic_v2m.video import analyze_video
from symbolic_v2m.video.synthetic import scene_layout, write_synthetic_clip

FOUR = (TimeSignature(4, 4),) * 32


# -- the plan --------------------------------------------------------------------------------


def test_form_values_parse_and_bad_ones_are_named() -> None:
    assert parse_form(("A B A C",)).labels == ("A", "B", "A", "C")
    assert parse_form(("abac",)).labels == ("A", "B", "A", "C")
    assert parse_form(("A, B, A",)).labels == ("A", "B", "A")
    assert parse_form(("2:A", "4:c")).overrides == {2: "A", 4: "C"}
    assert parse_form(("free",)).free
    for bad in [("A B", "C D"), ("free", "A B"), ("0:A",), ("2:",), ("A-B",)]:
        with pytest.raises(ValueError):
            parse_form(bad)


def test_labels_come_from_the_user_then_the_scenes_then_a_pop_shape() -> None:
    assert section_labels(FormConfig(), (0, 1, 0, 2)) == (("A", "B", "A", "C"), "scenes")
    # blank shots (-1) never return; nothing returns: verse and chorus with a bridge
    assert section_labels(FormConfig(), (-1, 0, -1, 1)) == (pop_labels(4), "pop")
    assert pop_labels(6) == ("A", "B", "A", "B", "C", "B")
    assert pop_labels(3) == ("A", "B", "A")
    yours = FormConfig(labels=("A", "A", "B", "B"))
    assert section_labels(yours, (0, 1, 0, 2)) == (("A", "A", "B", "B"), "yours")
    one = FormConfig(overrides={4: "A"})
    assert section_labels(one, (0, 1, 0, 2)) == (("A", "B", "A", "A"), "yours")
    with pytest.raises(ValueError, match="3 labels but the piece has 4 sections"):
        section_labels(FormConfig(labels=("A", "B", "A")), (0, 1, 2, 3))
    free = section_labels(FormConfig(free=True), (0, 1, 0, 1))
    assert free == (("A", "B", "C", "D"), "free")


def test_a_returning_section_copies_its_first_appearance_bar_for_bar() -> None:
    spans = ((0, 4), (4, 8), (8, 12), (12, 16))
    form = plan_form(spans, FOUR, (0, 1, 0, 1), FormConfig(variation=0.0))
    assert form.labels == ("A", "B", "A", "B")
    repeats = {c.bar: c.source for c in form.copies if c.bar >= 8}
    assert repeats == {8 + k: k for k in range(4)} | {12 + k: 4 + k for k in range(4)}
    # inside a first appearance, a phrase's third bar answers its first
    assert {c.bar: c.source for c in form.copies if c.bar < 8} == {2: 0, 6: 4}
    assert all(c.parts == STAGES for c in form.copies)
    # variation 1: only the chords return
    chords_only = plan_form(spans, FOUR, (0, 1, 0, 1), FormConfig(variation=1.0))
    assert chords_only.copies_for("chord") == form.copies_for("chord")
    assert [b for b in chords_only.copies_for("melody") if b >= 8] == []
    # the default: one bar in four of a repeat is new, where the melody's density moved most
    density = (4, 4, 4, 4, 6, 6, 6, 6, 4, 9, 4, 4, 6, 6, 6, 6)
    varied = plan_form(spans, FOUR, (0, 1, 0, 1), FormConfig(), density)
    assert set(form.copies_for("melody")) - set(varied.copies_for("melody")) == {9, 15}
    free = plan_form(spans, FOUR, (0, 1, 0, 1), FormConfig(free=True))
    assert free.copies == ()


def test_a_repeat_is_fitted_to_its_own_length() -> None:
    # A (6 bars) B (4) A (4: shorter, ends on the first one's cadence) A (9: goes round again)
    spans = ((0, 6), (6, 10), (10, 14), (14, 23))
    form = plan_form(spans, FOUR, (0, 1, 0, 0), FormConfig(variation=0.0))
    chords = form.copies_for("chord")
    assert [chords[b] for b in range(10, 14)] == [0, 1, 2, 5]
    assert [chords[b] for b in range(14, 23)] == [0, 1, 2, 3, 4, 5, 0, 1, 2]
    # a bar of another meter is never a copy of this one
    meters = list(FOUR[:23])
    meters[12] = TimeSignature(3, 4)
    assert 12 not in plan_form(spans, tuple(meters), (0, 1, 0, 0)).copies_for("chord")


def test_a_long_section_answers_its_first_phrase_and_echoes_it_at_the_end() -> None:
    # bar 2 answers bar 0 inside the first phrase; bars 4-5 begin the answering phrase;
    # bars 8-11 echo the first phrase
    form = plan_form(((0, 12),), FOUR, (0,), FormConfig(variation=0.0))
    melody = form.copies_for("melody")
    assert melody == {2: 0, 4: 0, 5: 1, 8: 0, 9: 1, 10: 2, 11: 3}
    assert form.repeats_of(0) == ()


# -- copies fitted to their bars ---------------------------------------------------------------


def _bar(onsets: list[int], pitches: list[int], length: int = 4) -> list[Note]:
    return [Note(o, length, p, 80) for o, p in zip(onsets, pitches, strict=True)]


@pytest.mark.parametrize("density", [0, 1, 2, 3, 4, 6, 9, 16])
def test_a_copied_melody_bar_meets_the_density_and_keeps_its_pitches(density: int) -> None:
    notes = _bar([16, 20, 24, 28], [60, 62, 64, 65])
    fitted = fit_melody_bar(notes, (16, 32), density, (), 4)
    assert fitted is not None
    assert len({n.onset for n in fitted}) == density
    assert {n.pitch for n in fitted} <= {60, 62, 64, 65}
    assert all(16 <= n.onset < 32 for n in fitted)
    if density == 4:
        assert fitted == notes  # nothing to fit: the same notes


def test_a_copied_melody_bar_strikes_on_a_hit_point_and_an_empty_one_is_not_copied() -> None:
    notes = _bar([16, 24], [60, 67], length=8)
    fitted = fit_melody_bar(notes, (16, 32), 2, (27,), 4)
    assert fitted is not None and 27 in {n.onset for n in fitted}
    assert len({n.onset for n in fitted}) == 2
    assert fit_melody_bar([], (16, 32), 3, (), 4) is None


def test_a_copied_accompaniment_bar_takes_the_forced_strengths() -> None:
    notes = [Note(0, 4, p, 70) for p in (48, 55, 64)] + [Note(8, 4, p, 70) for p in (48, 60)]
    strength = np.full(16, -1)
    strength[0], strength[8] = 2, 4
    fitted = fit_accompaniment_bar(notes, (0, 16), 2, strength, lambda t: frozenset({0, 4, 7}), 4)
    assert fitted is not None
    by_onset = {t: [n.pitch for n in fitted if n.onset == t] for t in (0, 8)}
    assert len(by_onset[0]) == 2 and len(by_onset[8]) == 4
    assert {p % 12 for p in by_onset[8]} <= {0, 4, 7}  # added notes are chord tones


# -- the metric ------------------------------------------------------------------------------


def test_recurrence_is_one_for_a_loop_and_zero_for_bars_that_never_repeat() -> None:
    a, b = frozenset({(0, 60), (4, 64)}), frozenset({(0, 62)})
    assert recurrence_of([a, a, a]) == 1.0
    assert recurrence_of([a, b]) == 0.0
    assert recurrence_of([a, frozenset(), b, a]) == pytest.approx(0.5)  # silence skipped
    assert jaccard(a, a | b) == pytest.approx(2 / 3)
    assert aligned_similarity([a, b, a, b], range(0, 2), range(2, 4)) == 1.0


# -- scenes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["ABAB", "ABCA", "ABCD"])
def test_returning_scenes_are_grouped_and_no_others(layout: str, tmp_path: Path) -> None:
    clip = write_synthetic_clip(tmp_path / "clip.mp4", scene_layout(layout, 2.0), size=(320, 180))
    features = analyze_video(clip.path)
    assert tuple(s.scene for s in features.shots) == clip.scenes
    assert "".join(chr(65 + g) for g in clip.scenes) == layout


# -- compositions, read from the written MIDI -------------------------------------------------


@pytest.fixture(scope="module")
def abab_clip(tmp_path_factory: pytest.TempPathFactory):
    """Two scenes, each coming back: A B A B, 6 s a shot."""
    folder = tmp_path_factory.mktemp("abab")
    return write_synthetic_clip(folder / "abab.mp4", scene_layout("ABAB", 6.0), size=(320, 180))


def _compose(clip, tiny_weights: Path, out: Path, **options) -> tuple[Path, dict]:
    config = ComposeConfig(
        weights_dir=str(tiny_weights), outputs=("midi", "project"), seed=3, **options
    )
    result = compose(clip.path, out, config)
    return result.files["midi"], json.loads(result.files["project"].read_text())


def _melody_similarity(midi: Path, sections: list[dict]) -> np.ndarray:
    """(S, S) bar-for-bar melody similarity of every pair of sections, from the MIDI."""
    piece = read_piece(midi)
    bars = bar_onset_sets(piece, piece.pitched("Melody"))
    spans = [range(s["start_bar"], s["end_bar"]) for s in sections]
    return np.array([[aligned_similarity(bars, a, b) for b in spans] for a in spans])


def test_the_music_of_a_returning_scene_comes_back(abab_clip, tiny_weights, tmp_path) -> None:
    midi, project = _compose(abab_clip, tiny_weights, tmp_path / "default")
    sections = project["timeline"]["sections"]
    assert [s["label"] for s in sections] == ["A", "B", "A", "B"]
    assert project["timeline"]["form"]["origin"] == "scenes"
    assert project["timeline"]["scenes"] == "A B A B"
    sim = _melody_similarity(midi, sections)
    for first, again, other in ((0, 2, 1), (1, 3, 2)):
        assert sim[first, again] >= 0.6
        assert sim[first, again] >= sim[other, again] + 0.3
    assert recurrence(read_piece(midi)) >= 0.3
    # the markers carry the letters (MuseScore's rehearsal marks)
    import mido

    conductor = mido.MidiFile(str(midi), charset="utf-8").tracks[0]
    texts = [m.text for m in conductor if m.type == "marker"]
    assert [t for t in texts if "Section" in t] == [
        "A — Section 1",
        "B — Section 2",
        "A — Section 3",
        "B — Section 4",
    ]


def test_variation_and_free_form_from_the_written_midi(abab_clip, tiny_weights, tmp_path) -> None:
    same, project = _compose(abab_clip, tiny_weights, tmp_path / "v0", variation=0.0)
    sections = project["timeline"]["sections"]
    new, _ = _compose(abab_clip, tiny_weights, tmp_path / "v1", variation=1.0)
    free, free_project = _compose(abab_clip, tiny_weights, tmp_path / "free", form=("free",))
    assert _melody_similarity(same, sections)[0, 2] >= 0.8
    assert _melody_similarity(new, sections)[0, 2] < 0.3
    assert _melody_similarity(free, sections)[0, 2] < 0.3
    assert free_project["timeline"]["form"]["copies"] == []
    # at variation 1 the chords still return: the pad (from the chords) repeats
    piece = read_piece(new)
    pad = bar_onset_sets(piece, piece.pitched("Pad"))
    spans = [range(s["start_bar"], s["end_bar"]) for s in sections]
    assert aligned_similarity(pad, spans[0][1:], spans[2][1:]) >= 0.9


def test_a_form_typed_by_the_user_is_followed(abab_clip, tiny_weights, tmp_path) -> None:
    midi, project = _compose(abab_clip, tiny_weights, tmp_path / "yours", form=("A A B B",))
    sections = project["timeline"]["sections"]
    assert [s["label"] for s in sections] == ["A", "A", "B", "B"]
    assert project["options"]["form"] == ["A A B B"]
    sim = _melody_similarity(midi, sections)
    assert sim[0, 1] >= 0.6 and sim[2, 3] >= 0.6 and sim[0, 2] < 0.3


def test_bad_form_options_get_one_line_and_exit_2(abab_clip, tmp_path, capsys) -> None:
    out = tmp_path / "bad"
    base = ["compose", str(abab_clip.path), "--out", str(out), "--only", "midi"]
    assert main([*base, "--form", "A B"]) == 2  # four sections
    err = capsys.readouterr().err.strip()
    assert "2 labels but the piece has 4 sections" in err and "\n" not in err
    assert main([*base, "--form", "free", "--form", "A B A B"]) == 2
    assert main([*base, "--variation", "1.5"]) == 2
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def abab_project(abab_clip, tiny_weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("abab_project")
    _compose(abab_clip, tiny_weights, out)
    return out / "abab.v2m.json"


def _sections_changed(before: Path, after: Path, sections: list[dict]) -> list[float]:
    """Per section, the mean bar-for-bar similarity of the melody before and after."""
    a, b = read_piece(before), read_piece(after)
    bars_a = bar_onset_sets(a, a.pitched("Melody"))
    bars_b = bar_onset_sets(b, b.pitched("Melody"))
    return [
        float(np.mean([jaccard(bars_a[i], bars_b[i]) for i in range(s["start_bar"], s["end_bar"])]))
        for s in sections
    ]


def test_regenerating_a_recurring_section_changes_its_repeats_alike(abab_project) -> None:
    midi = abab_project.with_name("abab.mid")
    before = abab_project.with_name("before.mid")
    shutil.copy(midi, before)
    sections = load_project(abab_project).timeline["sections"]
    assert main(["regenerate", str(abab_project), "--section", "1", "--seed", "5", "-q",
                 "--only", "midi"]) == 0  # fmt: skip
    kept = _sections_changed(before, midi, sections)
    assert kept[1] == kept[3] == 1.0  # the B sections: untouched
    assert kept[0] < 0.5 and kept[2] < 0.5  # A and its repeat: new
    assert _melody_similarity(midi, sections)[0, 2] >= 0.6  # and still alike
    history = load_project(abab_project).history[-1]
    assert history["repeats"] == [[sections[2]["start_bar"] + 1, sections[2]["end_bar"]]]


def test_only_this_leaves_the_repeats_and_a_new_form_rewrites_what_it_changes(
    abab_project,
) -> None:
    midi = abab_project.with_name("abab.mid")
    before = abab_project.with_name("before.mid")
    shutil.copy(midi, before)
    sections = load_project(abab_project).timeline["sections"]
    args = ["--only", "midi", "-q"]
    assert main(["regenerate", str(abab_project), "--section", "1", "--only-this", *args]) == 0
    kept = _sections_changed(before, midi, sections)
    assert kept[0] < 0.5 and kept[1] == kept[2] == kept[3] == 1.0
    shutil.copy(midi, before)
    assert main(["regenerate", str(abab_project), "--form", "A B C D", *args]) == 0
    project = load_project(abab_project)
    assert [s["label"] for s in project.timeline["sections"]] == ["A", "B", "C", "D"]
    assert project.options["form"] == ["A B C D"]
    kept = _sections_changed(before, midi, sections)
    assert kept[0] == kept[1] == 1.0 and kept[2] < 0.5 and kept[3] < 0.5
    # revert brings the music and the form back
    assert main(["regenerate", str(abab_project), "--revert", *args]) == 0
    project = load_project(abab_project)
    assert [s["label"] for s in project.timeline["sections"]] == ["A", "B", "A", "B"]
    assert project.options["form"] == []
    assert _sections_changed(before, midi, sections) == [1.0] * 4


def test_evaluate_reports_recurrence(abab_project, capsys) -> None:
    midi = abab_project.with_name("abab.mid")
    out = abab_project.with_name("eval.json")
    assert main(["evaluate", str(midi), "--json", str(out)]) == 0
    assert "recurrence" in capsys.readouterr().out
    value = json.loads(out.read_text())["music"]["recurrence"]
    assert value == pytest.approx(recurrence(read_piece(midi)))


def test_a_project_from_before_the_form_regenerates_as_free(project) -> None:
    """A composition made before the form existed repeats nothing: a regenerated section must
    not drag along sections that the default form would now call its repeats."""
    data = json.loads(project.read_text())
    del data["options"]["form"], data["options"]["variation"]
    del data["timeline"]["form"]
    project.write_text(json.dumps(data))
    midi = project.with_name(project.name.replace(".v2m.json", ".mid"))
    before = project.with_name("before.mid")
    shutil.copy(midi, before)
    sections = data["timeline"]["sections"]
    assert main(["regenerate", str(project), "--section", "1", "--only", "midi", "-q"]) == 0
    kept = _sections_changed(before, midi, sections)
    assert all(k == 1.0 for k in kept[1:])
    assert load_project(project).options["form"] == ["free"]


def test_a_section_moved_to_another_key_takes_its_repeats_with_it(abab_project) -> None:
    sections = load_project(abab_project).timeline["sections"]
    assert main(["regenerate", str(abab_project), "--section", "1", "--key", "E minor",
                 "--only", "midi", "-q"]) == 0  # fmt: skip
    score = load_project(abab_project).music()
    starts = [b.start for b in score.bars()] + [score.length]
    for number, (tonic, mode) in enumerate([(4, "minor"), (0, "major"), (4, "minor")]):
        key = score.key_at(starts[sections[number]["start_bar"]])
        assert (key.tonic, key.mode) == (tonic, mode), number


def test_copied_chords_leave_no_bar_without_harmony(abab_clip, tiny_weights, tmp_path) -> None:
    """The chord part stays a tiling of the piece: a copied bar's last chord ends at its bar
    line, and a written bar with no chord at its start carries it on."""
    _, project = _compose(abab_clip, tiny_weights, tmp_path / "tiling")
    from symbolic_v2m.project import score_from_dict

    score = score_from_dict(project["score"])
    chords = score.chords
    assert chords[0].onset == 0
    for before, after in zip(chords, chords[1:], strict=False):
        assert before.offset == after.onset


def test_the_look_similarity_is_opencvs_bhattacharyya_and_symmetric() -> None:
    import cv2

    from symbolic_v2m.video.scenes import WEIGHTS, ShotLook, look_similarity, similarity_matrix

    rng = np.random.default_rng(1)
    looks = []
    for _ in range(6):
        hist = rng.random(128).astype(np.float32)
        layout = rng.standard_normal(144).astype(np.float32)
        speed = float(rng.random())
        looks.append(ShotLook(hist / hist.sum(), layout / np.linalg.norm(layout), speed))
    a, b = looks[0], looks[1]
    # with equal layout and motion, only the colour term differs from 1
    same_rest = ShotLook(b.histogram, a.structure, a.speed)
    expected = 1 - cv2.compareHist(a.histogram, b.histogram, cv2.HISTCMP_BHATTACHARYYA)
    w_colour = WEIGHTS[0]
    assert look_similarity(a, same_rest) == pytest.approx(1 - w_colour * (1 - expected), abs=1e-6)
    matrix = similarity_matrix(looks)
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)
