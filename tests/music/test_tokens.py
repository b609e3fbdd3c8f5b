"""The CP representation: exact round trip, control families, context families, transposition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbolic_v2m.music import (
    Chord,
    KeyChange,
    Note,
    Role,
    Score,
    TempoMap,
    TimeSignature,
    decode_score,
    encode_part,
    encode_score,
    stage_spec,
    transpose_tokens,
)
from symbolic_v2m.music.chords import QUALITIES
from symbolic_v2m.music.vocab import DURATIONS, MAX_STRENGTH, METERS


def random_score(rng: np.random.Generator, n_bars: int = 12) -> Score:
    """A random score on the vocabulary's grid: mixed meters, chords tiling, key changes."""
    meters = tuple(METERS[i] for i in rng.choice(len(METERS), n_bars, p=[0.05, 0.1, 0.15, 0.7]))
    starts = np.cumsum([0] + [m.ticks() for m in meters])
    length = int(starts[-1])
    velocities = stage_spec(Role.MELODY).family("velocity").values

    def notes(count: int, low: int, high: int, chordal: bool) -> tuple[Note, ...]:
        out = {}
        for _ in range(count):
            onset = int(rng.integers(0, length))
            for _ in range(int(rng.integers(1, 5)) if chordal else 1):
                pitch = int(rng.integers(low, high))
                out[(onset, pitch)] = Note(
                    onset, int(rng.choice(DURATIONS)), pitch, int(rng.choice(velocities))
                )
        return tuple(out.values())

    cuts = sorted(set(rng.integers(1, length, int(rng.integers(1, 2 * n_bars))).tolist()))
    bounds = [0, *cuts, length]
    chords = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        quality = str(rng.choice(QUALITIES))
        root = None if quality == "N" else int(rng.integers(0, 12))
        bass = None if root is None else int(rng.choice([root, (root + 4) % 12, (root + 7) % 12]))
        chords.append(Chord(a, b - a, root, quality, bass))
    keys = [KeyChange(0, int(rng.integers(0, 12)), str(rng.choice(["major", "minor"])))]
    if n_bars > 4:
        keys.append(KeyChange(int(starts[n_bars // 2]), (keys[0].tonic + 5) % 12, "major"))
    return Score(
        meters=meters,
        tempo=TempoMap.constant(float(rng.uniform(60, 160))),
        keys=tuple(keys),
        chords=tuple(chords),
        melody=notes(4 * n_bars, 55, 84, chordal=False),
        accompaniment=notes(8 * n_bars, 28, 80, chordal=True),
        phrase_starts=tuple(sorted({int(b) for b in rng.integers(1, n_bars, 3)}))
        if n_bars > 1
        else (),
    ).normalised()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_bars=st.integers(1, 24))
def test_round_trip_is_exact(seed: int, n_bars: int) -> None:
    score = random_score(np.random.default_rng(seed), n_bars)
    assert decode_score(encode_score(score), score.tempo) == score


def test_empty_parts_round_trip() -> None:
    score = Score(
        meters=(TimeSignature(4, 4),) * 3,
        tempo=TempoMap.constant(100),
        chords=(Chord(0, 48, None, "N", None),),
    )
    assert decode_score(encode_score(score), score.tempo) == score


def _bars_of(tokens: np.ndarray, spec) -> np.ndarray:
    return np.cumsum(tokens[:, 0] == spec.type_index("bar")) - 1


def test_density_counts_onset_ticks_and_strength_counts_notes() -> None:
    score = random_score(np.random.default_rng(3), 16)
    for role in (Role.MELODY, Role.ACCOMPANIMENT):
        spec = stage_spec(role)
        seq = encode_part(score, role)
        col = spec.column
        bars = list(score.bars())
        bar_rows = np.flatnonzero(seq.tokens[:, 0] == spec.type_index("bar"))
        assert len(bar_rows) == score.n_bars
        notes = score.part(role)
        for bar, row in zip(bars, bar_rows, strict=False):
            onsets = {n.onset for n in notes if bar.start <= n.onset < bar.end}
            density = spec.family("density").value(seq.tokens[row, col["density"]])
            assert density == len(onsets)
        pos_rows = np.flatnonzero(seq.tokens[:, 0] == spec.type_index("pos"))
        for row in pos_rows:
            tick = int(seq.ticks[row])
            expected = min(sum(n.onset == tick for n in notes), MAX_STRENGTH)
            assert spec.family("strength").value(seq.tokens[row, col["strength"]]) == expected


def test_chord_density_counts_chord_changes() -> None:
    score = random_score(np.random.default_rng(5), 10)
    spec = stage_spec(Role.CHORD)
    seq = encode_part(score, Role.CHORD)
    rows = np.flatnonzero(seq.tokens[:, 0] == spec.type_index("bar"))
    for bar, row in zip(score.bars(), rows, strict=False):
        changes = sum(bar.start <= c.onset < bar.end for c in score.chords)
        assert spec.family("density").value(seq.tokens[row, spec.column["density"]]) == changes


def test_context_families_carry_chord_and_melody_at_each_tick() -> None:
    score = random_score(np.random.default_rng(7), 12)
    spec = stage_spec(Role.ACCOMPANIMENT)
    seq = encode_part(score, Role.ACCOMPANIMENT)
    col = spec.column
    fam = spec.family
    for row, tick in zip(seq.tokens, seq.ticks, strict=False):
        if tick >= score.length:
            continue
        chord = score.chord_at(int(tick))
        assert fam("chord_root").value(row[col["chord_root"]]) == chord.root
        assert fam("chord_quality").value(row[col["chord_quality"]]) == chord.quality
        sounding = [n for n in score.melody if n.onset <= tick < n.offset]
        latest = max(sounding, key=lambda n: (n.onset, n.pitch)) if sounding else None
        assert fam("melody_pitch").value(row[col["melody_pitch"]]) == (
            latest.pitch if latest else None
        )
        assert fam("melody_onset").value(row[col["melody_onset"]]) == any(
            n.onset == tick for n in score.melody
        )
        key = score.key_at(int(tick))
        assert fam("key").value(row[col["key"]]) == (key.tonic, key.mode)


def test_progress_rises_to_the_end_and_phrase_counts_down() -> None:
    score = random_score(np.random.default_rng(11), 20)
    spec = stage_spec(Role.CHORD)
    seq = encode_part(score, Role.CHORD)
    progress = seq.tokens[:, spec.column["progress"]]
    assert np.all(np.diff(progress) >= 0)
    assert progress[0] == 1 and progress[-1] == spec.family("progress").size - 1
    phrase = spec.family("phrase")
    rows = np.flatnonzero(seq.tokens[:, 0] == spec.type_index("bar"))
    starts = [*score.phrase_starts, score.n_bars]
    for bar, row in enumerate(rows):
        nxt = min(s for s in starts if s > bar)
        assert phrase.value(seq.tokens[row, spec.column["phrase"]]) == min(nxt - bar - 1, 8)


@pytest.mark.parametrize("semitones", [-5, 3, 11])
def test_transposition_of_tokens_equals_transposing_the_score(semitones: int) -> None:
    score = random_score(np.random.default_rng(13), 8)

    def shift(pc: int | None) -> int | None:
        return None if pc is None else (pc + semitones) % 12

    moved = Score(
        meters=score.meters,
        tempo=score.tempo,
        keys=tuple(KeyChange(k.onset, shift(k.tonic), k.mode) for k in score.keys),
        chords=tuple(
            Chord(c.onset, c.duration, shift(c.root), c.quality, shift(c.bass))
            for c in score.chords
        ),
        melody=tuple(
            Note(n.onset, n.duration, n.pitch + semitones, n.velocity) for n in score.melody
        ),
        accompaniment=tuple(
            Note(n.onset, n.duration, n.pitch + semitones, n.velocity) for n in score.accompaniment
        ),
        phrase_starts=score.phrase_starts,
    ).normalised()
    expected = encode_score(moved)
    for role, seq in encode_score(score).items():
        out = transpose_tokens(seq.tokens, stage_spec(role), semitones)
        np.testing.assert_array_equal(out, expected[role].tokens)


def test_transposition_out_of_range_is_refused() -> None:
    score = Score(
        meters=(TimeSignature(4, 4),),
        tempo=TempoMap.constant(120),
        melody=(Note(0, 4, 125, 63),),
    )
    seq = encode_part(score, Role.MELODY)
    assert transpose_tokens(seq.tokens, stage_spec(Role.MELODY), 3) is None
    assert transpose_tokens(seq.tokens, stage_spec(Role.MELODY), -3) is not None


def test_off_grid_values_are_rejected() -> None:
    score = Score(
        meters=(TimeSignature(4, 4),),
        tempo=TempoMap.constant(120),
        melody=(Note(0, 17, 60, 63),),  # 17 ticks is not a vocabulary duration
    )
    with pytest.raises(ValueError, match="duration"):
        encode_part(score, Role.MELODY)


def test_decoder_skips_malformed_generated_tokens() -> None:
    spec = stage_spec(Role.MELODY)
    col = spec.column
    width = len(spec.families)

    def tok(kind: str, **values: int) -> list[int]:
        row = [0] * width
        row[0] = spec.type_index(kind)
        for name, value in values.items():
            row[col[name]] = spec.family(name).index(value)
        return row

    meter = TimeSignature(4, 4)
    rows = [
        tok("note", pitch=60, duration=4, velocity=63),  # before any bar: skipped
        tok("bar", meter=meter),
        tok("note", pitch=61, duration=4, velocity=63),  # before any simu-note: skipped
        tok("pos", position=4),
        tok("note", pitch=62, duration=4, velocity=63),
        tok("pos", position=2),  # behind the previous position: skipped with its note
        tok("note", pitch=63, duration=4, velocity=63),
        tok("eos"),
    ]
    from symbolic_v2m.music import TokenSequence, decode_part

    seq = TokenSequence(Role.MELODY, np.array(rows, dtype=np.int16), np.zeros(len(rows), np.int32))
    part = decode_part(seq)
    assert part.meters == (meter,)
    assert [n.pitch for n in part.events] == [62]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), split=st.floats(0, 1))
def test_decoder_fed_in_blocks_and_forked_reads_as_the_whole(seed: int, split: float) -> None:
    from symbolic_v2m.music import decode_part
    from symbolic_v2m.music.tokens import PartDecoder

    score = random_score(np.random.default_rng(seed), 10)
    other = random_score(np.random.default_rng(seed + 1), 10)
    for role in Role:
        sequence = encode_part(score, role)
        cut = int(split * len(sequence.tokens))
        shared = PartDecoder(role)
        shared.feed(sequence.tokens[:cut])
        # a fork reading other tokens leaves the shared state (and the other fork) untouched
        stray = shared.fork()
        stray.feed(encode_part(other, role).tokens[cut:])
        fork = shared.fork()
        fork.feed(sequence.tokens[cut:])
        assert fork.part() == decode_part(sequence)
        shared.feed(sequence.tokens[cut:])
        assert shared.part() == decode_part(sequence)
