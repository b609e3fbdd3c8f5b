"""Music metrics on hand-made MIDI files with known answers, and on POP909 against the stated
reference values (../shared)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from symbolic_v2m.evaluation import metrics as score_metrics
from symbolic_v2m.evaluation.music import (
    METRICS,
    empty_beat_rate,
    grooving_similarity,
    mean_ioi,
    mean_metrics,
    music_metrics,
    notes_per_bar,
    pitch_class_entropy,
    pitch_entropy,
    polyphony,
    scale_consistency,
    structureness,
)
from symbolic_v2m.evaluation.piece import Piece, read_piece
from symbolic_v2m.music.score import Note

from ..conftest import SHARED

BEAT = 0.5  # seconds per quarter note at 120 BPM; a 4/4 bar is 2 s


def write_piece(
    path: Path,
    notes: list[tuple[float, float, int]],
    *,
    extend_to: float | None = None,
    drums: Sequence[tuple[float, float, int]] = (),
) -> Piece:
    """(start s, end s, pitch) notes in a 120 BPM 4/4 file, read back with read_piece."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(80, p, s, e) for s, e, p in notes]
    if extend_to is not None:  # a late controller event: silent beats after the last note
        piano.control_changes.append(pretty_midi.ControlChange(64, 0, extend_to))
    pm.instruments.append(piano)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="Drums")
        kit.notes = [pretty_midi.Note(100, p, s, e) for s, e, p in drums]
        pm.instruments.append(kit)
    pm.write(str(path))
    return read_piece(path)


def on_grid(beats: list[float], pitches: list[int], length: float = BEAT) -> list:
    """Notes at the given beat positions (quarter = 1.0), ``length`` seconds long."""
    return [(b * BEAT, b * BEAT + length, p) for b, p in zip(beats, pitches, strict=True)]


# --- pitch ------------------------------------------------------------------------------------


def test_c_major_scale_is_fully_consistent(tmp_path: Path) -> None:
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    piece = write_piece(tmp_path / "scale.mid", on_grid(list(range(8)), scale))
    assert scale_consistency(piece) == 1.0
    # one C# among the scale: no major scale holds C, C#, F and B together -> 8 of 9
    chromatic = write_piece(tmp_path / "sharp.mid", on_grid(list(range(9)), [*scale, 61]))
    assert scale_consistency(chromatic) == pytest.approx(8 / 9)


def test_four_equally_frequent_pitch_classes_have_two_bits(tmp_path: Path) -> None:
    # one pitch class per bar (C, D, E, F), in two octaves: 2 bits over the whole piece, though
    # every single bar has 0 (a per-bar average would give 0)
    pitches = [p + o for p in (60, 62, 64, 65) for o in (0, 12, 0, 12)]
    piece = write_piece(tmp_path / "four.mid", on_grid(list(range(16)), pitches))
    assert pitch_class_entropy(piece) == pytest.approx(2.0)
    assert pitch_entropy(piece) == pytest.approx(3.0)  # 8 distinct pitches, twice each


def test_one_pitch_has_zero_entropy(tmp_path: Path) -> None:
    piece = write_piece(tmp_path / "one.mid", on_grid([0, 1, 2, 3], [67] * 4))
    assert pitch_class_entropy(piece) == 0.0
    assert pitch_entropy(piece) == 0.0


def test_drum_notes_are_left_out(tmp_path: Path) -> None:
    drums = on_grid([0, 0.5, 1, 1.5], [36, 38, 42, 49])
    piece = write_piece(tmp_path / "drums.mid", on_grid([0, 1, 2, 3], [60] * 4), drums=drums)
    assert pitch_class_entropy(piece) == 0.0
    assert mean_ioi(piece) == pytest.approx(BEAT)


def test_score_metrics_delegate_to_the_same_implementation(tmp_path: Path) -> None:
    pitches = [60, 61, 64, 66, 67, 67, 70]
    piece = write_piece(tmp_path / "mix.mid", on_grid(list(range(7)), pitches))
    notes = [Note(4 * i, 4, p) for i, p in enumerate(pitches)]
    assert score_metrics.pitch_class_entropy(notes) == pitch_class_entropy(piece)
    assert score_metrics.scale_consistency(notes) == scale_consistency(piece)
    assert score_metrics.scale_consistency(notes) == pytest.approx(5 / 7)  # D major: C# E F# G G
    assert score_metrics.pitch_class_entropy([]) == 0.0  # the Score API's empty values stay
    assert score_metrics.scale_consistency([]) == 1.0


# --- rhythm -----------------------------------------------------------------------------------


def test_identical_bars_groove_alike_and_disjoint_rhythms_less(tmp_path: Path) -> None:
    rhythm = [0, 0.75, 1.5, 2, 3.25]  # beat positions inside a bar
    same = [b + 4 * bar for bar in (0, 1, 3, 4) for b in rhythm]  # bar 2 is silent
    piece = write_piece(tmp_path / "same.mid", on_grid(same, [60] * len(same), 0.2))
    assert piece.n_bars == 5
    assert grooving_similarity(piece) == 1.0  # the empty bar is not compared
    # bars A B A B with A on the beats and B on the off-8ths: A-B pairs differ in 8 of 16
    a, b = [0, 1, 2, 3], [0.5, 1.5, 2.5, 3.5]
    alternating = [x + 4 * bar for bar in range(4) for x in (a if bar % 2 == 0 else b)]
    piece = write_piece(tmp_path / "abab.mid", on_grid(alternating, [60] * 16, 0.2))
    assert grooving_similarity(piece) == pytest.approx((2 * 1.0 + 4 * 0.5) / 6)


def test_a_note_on_every_16th_leaves_no_empty_beat(tmp_path: Path) -> None:
    sixteenths = [i / 4 for i in range(32)]
    piece = write_piece(tmp_path / "busy.mid", on_grid(sixteenths, [60] * 32, BEAT / 4))
    assert empty_beat_rate(piece) == 0.0


def test_known_silent_beats_give_the_exact_rate(tmp_path: Path) -> None:
    # beat 0 silent, quarters on 1-3, bar 2 (beats 4-7) silent, half notes on 8, 10, 12, 14:
    # the half notes keep beats 9, 11, 13, 15 sounding though nothing starts there -> 5 of 16.
    notes = on_grid([1, 2, 3], [60, 62, 64]) + on_grid([8, 10, 12, 14], [65] * 4, 2 * BEAT)
    piece = write_piece(tmp_path / "rests.mid", notes, extend_to=12.0)
    assert len(piece.beats) == 24  # the file runs to 12 s
    # the 8 beats after the last note (beats 16-23) only pad the file and are not counted
    assert empty_beat_rate(piece) == pytest.approx(5 / 16)


def test_eighth_notes_at_120_bpm_are_a_quarter_second_apart(tmp_path: Path) -> None:
    eighths = [i / 2 for i in range(16)]
    piece = write_piece(tmp_path / "eighths.mid", on_grid(eighths, [60] * 16, BEAT / 2))
    assert mean_ioi(piece) == pytest.approx(0.25)
    # chords on the same 8ths: onsets are distinct times, so the interval is unchanged
    chords = [(s, e, p + d) for s, e, p in on_grid(eighths, [60] * 16, BEAT / 2) for d in (0, 4)]
    assert mean_ioi(write_piece(tmp_path / "chords.mid", chords)) == pytest.approx(0.25)


def test_notes_per_bar(tmp_path: Path) -> None:
    piece = write_piece(tmp_path / "bars.mid", on_grid([0, 1, 2, 3, 4, 6], [60] * 6))
    assert piece.n_bars == 2
    assert notes_per_bar(piece) == 3.0


# --- texture and structure --------------------------------------------------------------------


def test_block_triads_have_polyphony_three(tmp_path: Path) -> None:
    triads = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)]
    notes = [(2 * i * BEAT, 2 * (i + 1) * BEAT, p) for i, t in enumerate(triads) for p in t]
    assert polyphony(write_piece(tmp_path / "triads.mid", notes)) == 3.0
    # a held whole note under four quarter notes: two notes sound at every onset
    held = [(0.0, 4 * BEAT, 48), *on_grid([0, 1, 2, 3], [72, 74, 76, 77])]
    assert polyphony(write_piece(tmp_path / "held.mid", held)) == 2.0


def test_a_repeated_half_scores_higher_structureness_than_random_pitches(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    eighths = [i / 2 for i in range(128)]  # 16 bars of 8th notes = 64 beats
    half = rng.integers(48, 84, size=64).tolist()
    repeated = write_piece(tmp_path / "aa.mid", on_grid(eighths, half + half, BEAT / 2))
    noise = rng.integers(48, 84, size=128).tolist()
    random = write_piece(tmp_path / "random.mid", on_grid(eighths, noise, BEAT / 2))
    assert len(repeated.beats) == 64
    high, low = structureness(repeated), structureness(random)
    assert high > 0.85  # 0.90: the segments straddling the middle have no exact repeat
    assert low < 0.4  # 0.26
    assert high - low > 0.5


def test_a_loop_of_one_bar_is_perfectly_structured(tmp_path: Path) -> None:
    bar = [60, 64, 67, 72]
    loop = write_piece(tmp_path / "loop.mid", on_grid(list(range(64)), bar * 16))
    assert structureness(loop) == pytest.approx(1.0)


# --- degenerate pieces and the aggregate ------------------------------------------------------


def test_an_empty_piece_does_not_crash(tmp_path: Path) -> None:
    piece = write_piece(tmp_path / "empty.mid", [])
    values = music_metrics(piece)
    assert tuple(values) == METRICS
    assert values["notes_per_bar"] == 0.0
    others = [v for k, v in values.items() if k != "notes_per_bar"]
    assert all(math.isnan(v) for v in others)


def test_a_single_note(tmp_path: Path) -> None:
    values = music_metrics(write_piece(tmp_path / "single.mid", [(0.0, BEAT, 60)]))
    assert values["pitch_class_entropy"] == 0.0
    assert values["scale_consistency"] == 1.0
    assert values["empty_beat_rate"] == 0.0
    assert values["polyphony"] == 1.0
    assert values["notes_per_bar"] == 1.0
    for name in ("grooving_similarity", "mean_ioi", "structureness"):
        assert math.isnan(values[name]), name


def test_mean_metrics_leaves_out_pieces_where_a_metric_is_undefined(tmp_path: Path) -> None:
    single = write_piece(tmp_path / "single.mid", [(0.0, BEAT, 60)])
    eighths = write_piece(tmp_path / "e.mid", on_grid([i / 2 for i in range(8)], [62] * 8, 0.25))
    means = mean_metrics([single, eighths])
    assert tuple(means) == METRICS
    assert means["mean_ioi"] == pytest.approx(0.25)  # the single note has none
    assert means["notes_per_bar"] == pytest.approx((1 + 8) / 2)
    assert all(math.isnan(v) for v in mean_metrics([]).values())


# --- POP909 against the stated reference values -----------------------------------------------

# ../shared/README.md, over all 909 songs; our definitions give 2.818, 4.460, 0.965, 0.770,
# 0.0091 and 0.318 over all 909 (see the music module's docstring).
REFERENCE = {
    "pitch_class_entropy": 2.817,
    "pitch_entropy": 4.456,
    "scale_consistency": 0.965,
    "grooving_similarity": 0.770,
    "empty_beat_rate": 0.008,
    "mean_ioi": 0.304,
}
# Three standard errors of a 21-song mean (per-song s.d. over all 909: 0.205, 0.300, 0.055,
# 0.086, 0.0145, 0.050), plus for mean_ioi the known +0.014 offset of 16th-quantised onsets.
# Each is tighter than the gap to the rejected definitions: 4-bar-window entropies (2.62,
# 3.98), grooving on a 32-step grid or on consecutive bars (0.883, 0.829), empty beats by
# onsets (0.042), every-onset intervals (0.152).
TOLERANCE = {
    "pitch_class_entropy": 0.14,
    "pitch_entropy": 0.20,
    "scale_consistency": 0.037,
    "grooving_similarity": 0.057,
    "empty_beat_rate": 0.010,
    "mean_ioi": 0.05,
}


@pytest.mark.shared_data
def test_pop909_sample_lands_near_the_reference_values() -> None:
    from symbolic_v2m.data.pop909 import Pop909
    from symbolic_v2m.evaluation.piece import piece_from_score

    corpus = Pop909(SHARED / "datasets" / "pop909")
    sample = corpus.song_ids()[::45]  # 001, 046, ..., 901: 21 songs
    assert len(sample) == 21
    means = mean_metrics(piece_from_score(corpus.load(i).score) for i in sample)
    for name, stated in REFERENCE.items():
        assert means[name] == pytest.approx(stated, abs=TOLERANCE[name]), name
    assert 0.8 < means["structureness"] < 1.0  # 0.903 over all 909 songs
