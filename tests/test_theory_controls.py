"""Music-theory controls at composition time: key, scale lock, chord progressions."""

from __future__ import annotations

import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.errors import ConfigError
from symbolic_v2m.music.chords import chord_pitch_classes
from symbolic_v2m.music.theory import Key, parse_progression, strict_pitch_classes
from symbolic_v2m.project import load_project

D_MINOR = Key(2, "minor")


def _compose(clip, weights, tmp_path, **options):
    config = ComposeConfig(weights_dir=str(weights), outputs=("midi", "project"), **options)
    return compose(clip.path, tmp_path, config)


def test_strict_scale_lock_keeps_every_note_and_chord_in_the_strict_set(
    varied_clip, tiny_weights, tmp_path
) -> None:
    """D minor: D E F G A Bb C and the raised 7th C#; chord tones are no exception (the chords
    themselves are held to the set). tests/test_scale_lock.py judges the written files."""
    clip, _ = varied_clip
    result = _compose(clip, tiny_weights, tmp_path, key="D minor", scale_lock="strict")
    score = result.score
    assert (score.keys[0].tonic, score.keys[0].mode) == (2, "minor")
    allowed = strict_pitch_classes(D_MINOR)
    assert allowed == {2, 4, 5, 7, 9, 10, 0, 1}
    assert score.melody and score.accompaniment
    for note in score.melody + score.accompaniment:
        assert note.pitch % 12 in allowed, note
    for chord in score.chords:
        assert chord_pitch_classes(chord.root, chord.quality, chord.bass) <= allowed, chord


def test_progression_is_followed_in_every_bar(varied_clip, tiny_weights, tmp_path) -> None:
    clip, _ = varied_clip
    result = _compose(clip, tiny_weights, tmp_path, key="Dm", progression=("i VI III VII",))
    expected = [(r, q) for r, q, _ in parse_progression("i VI III VII", D_MINOR)]
    score, timeline = result.score, result.timeline
    for section in timeline.sections:
        for i, bar in enumerate(range(section.start_bar, section.end_bar)):
            start, end = timeline.bar_starts[bar], timeline.bar_starts[bar + 1]
            in_bar = [c for c in score.chords if start <= c.onset < end]
            assert [(c.root, c.quality) for c in in_bar] == [expected[i % 4]], bar


def test_the_command_line_passes_the_theory_options_on(varied_clip, tiny_weights, tmp_path):
    """``compose --progression ... --scale-lock strict`` as typed (these options were once
    parsed and then dropped before reaching the composition)."""
    clip, _ = varied_clip
    out = tmp_path / "cli"
    args = ["compose", str(clip.path), "--out", str(out), "--only", "project", "--key", "Dm"]
    args += ["--progression", "i VI III VII", "--scale-lock", "strict"]
    assert main([*args, "--weights", str(tiny_weights), "-q"]) == 0
    project = load_project(out / f"{clip.path.stem}.v2m.json")
    assert project.options["progression"] == ["i VI III VII"]
    assert project.options["scale_lock"] == "strict"
    expected = [(r, q) for r, q, _ in parse_progression("i VI III VII", D_MINOR)]
    score = project.music()
    bar_starts = [bar.start for bar in score.bars()]
    for section in project.timeline["sections"]:  # the progression restarts in each section
        for i, bar in enumerate(range(section["start_bar"], section["end_bar"])):
            chords = [c for c in score.chords if score.bar_at(c.onset) == bar]
            assert [(c.root, c.quality) for c in chords] == [expected[i % 4]], bar_starts[bar]


def test_section_progressions(varied_clip, tiny_weights, tmp_path) -> None:
    clip, _ = varied_clip
    result = _compose(clip, tiny_weights, tmp_path, key="C", progression=("2: ii V I",))
    timeline = result.timeline
    second = timeline.sections[1]
    start = timeline.bar_starts[second.start_bar]
    first_chords = [c for c in result.score.chords if c.onset == start]
    assert [(c.root, c.quality) for c in first_chords] == [(2, "min")]
    with pytest.raises(ConfigError, match="sections"):
        _compose(clip, tiny_weights, tmp_path / "x", key="C", progression=("9: I V",))


@pytest.mark.parametrize(
    "args, option",
    [
        (["--key", "H major"], "--key"),
        (["--progression", "i XYZ"], "--progression"),
        (["--scale-lock", "loose"], "--scale-lock"),
        (["--energy", "3"], "--energy"),
    ],
)
def test_invalid_theory_input_is_a_usage_error(varied_clip, tmp_path, capsys, args, option):
    clip, _ = varied_clip
    out = tmp_path / "out"
    assert main(["compose", str(clip.path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("meter", ["3/4", "6/8"])
def test_triple_and_compound_time(varied_clip, tiny_weights, tmp_path, meter) -> None:
    import mido

    clip, _ = varied_clip
    result = _compose(clip, tiny_weights, tmp_path, time_signature=meter)
    assert {str(m) for m in result.score.meters[1:-1]} == {meter}
    signatures = [
        f"{m.numerator}/{m.denominator}"
        for m in mido.MidiFile(str(result.files["midi"])).tracks[0]
        if m.type == "time_signature"
    ]
    assert meter in signatures


def test_section_energy_and_pitch_range(varied_clip, tiny_weights, tmp_path) -> None:
    clip, _ = varied_clip
    plain = _compose(clip, tiny_weights, tmp_path / "plain")
    busy = _compose(
        clip,
        tiny_weights,
        tmp_path / "busy",
        section_energy={2: 1.0},
        pitch_ranges={"melody": (60, 72)},
    )
    second = busy.timeline.sections[1]
    bars = range(second.start_bar, second.end_bar)
    assert sum(busy.timeline.density["melody"][b] for b in bars) > sum(
        plain.timeline.density["melody"][b] for b in bars
    )
    others = [b for b in range(len(busy.timeline.meters)) if b not in bars]
    assert [busy.timeline.density["melody"][b] for b in others] == [
        plain.timeline.density["melody"][b] for b in others
    ]
    # the range is a soft bias: an untrained model still strays, but much less often
    inside = [60 <= n.pitch <= 72 for n in busy.score.melody]
    assert sum(inside) / len(inside) >= 0.6


def test_default_models_put_chord_tones_on_strong_beats_under_a_progression(
    varied_clip, tmp_path
) -> None:
    """With the shipped models: at least 70% of strong-beat melody notes are chord tones."""
    clip, _ = varied_clip
    hits = []
    for seed in (0, 1):
        config = ComposeConfig(
            key="Am", progression=("i VI III VII",), outputs=("midi",), seed=seed
        )
        result = compose(clip.path, tmp_path / str(seed), config)
        score, starts = result.score, result.timeline.bar_starts
        strong = {int(a) for a in starts[:-1]} | {
            int(a) + 8 for a, b in zip(starts[:-1], starts[1:], strict=True) if b - a == 16
        }
        for note in score.melody:
            chord = score.chord_at(note.onset)
            if note.onset in strong and chord is not None:
                hits.append(
                    note.pitch % 12 in chord_pitch_classes(chord.root, chord.quality, chord.bass)
                )
    assert len(hits) >= 10
    assert sum(hits) / len(hits) >= 0.7, sum(hits) / len(hits)
