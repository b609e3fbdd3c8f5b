"""The POP909 adapter and the prepare / stats pipeline, on the synthetic fixture corpus."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.data import (
    Pop909,
    PrepareConfig,
    dataset_statistics,
    load_calibration,
    load_split,
    load_stage_arrays,
    prepare_corpus,
    representation_fingerprint,
)
from symbolic_v2m.errors import DataError
from symbolic_v2m.music import Chord, Role, TimeSignature, TokenSequence, decode_part
from tests.pop909_fixture import BEAT, FIRST_BEAT


def test_song_is_quantised_onto_the_annotated_beats_not_the_file_tempo(fixture_corpus) -> None:
    root, songs = fixture_corpus
    song = Pop909(root).load("001")
    score = song.score
    # a one-beat pickup bar, then eight 4/4 bars
    assert score.meters == (TimeSignature(1, 4),) + (TimeSignature(4, 4),) * 8
    assert tuple(n.onset for n in score.melody) == songs["001"].melody_ticks
    assert song.quantisation.moved_64th == 0
    # the tempo map puts every beat where the annotation says (90 BPM, not the file's 120)
    for beat in (0, 1, 17, 32):
        assert score.seconds(4 * beat) == pytest.approx(FIRST_BEAT + beat * BEAT)
    assert score.chords == (
        Chord(0, 4, None, "N", None),
        Chord(4, 64, 0, "maj", 0),
        Chord(68, 32, 9, "min7", 9),
        Chord(100, 32, 5, "maj", 9),
    )
    assert [(k.onset, k.tonic, k.mode) for k in score.keys] == [(0, 0, "major")]


def test_bridge_is_part_of_the_accompaniment_unless_left_out(fixture_corpus) -> None:
    root, _ = fixture_corpus
    with_bridge = Pop909(root).load("001").score.accompaniment
    without = Pop909(root, include_bridge=False).load("001").score.accompaniment
    assert len(with_bridge) == len(without) + 2
    assert {n.pitch for n in with_bridge} - {n.pitch for n in without} == {79, 81}


def test_triple_metre_songs_become_three_four(fixture_corpus) -> None:
    root, songs = fixture_corpus
    score = Pop909(root).load("002").score
    assert score.meters == (TimeSignature(3, 4),) * 8
    assert tuple(n.onset for n in score.melody) == songs["002"].melody_ticks
    assert [b.start for b in score.bars()] == list(range(0, 96, 12))


@pytest.mark.parametrize(
    "song_id, file_name", [("003", "chord_midi.txt"), ("004", "key_audio.txt")]
)
def test_bad_annotation_names_the_file(fixture_corpus, song_id: str, file_name: str) -> None:
    root, _ = fixture_corpus
    with pytest.raises(DataError, match=file_name):
        Pop909(root).load(song_id)


@pytest.fixture(scope="module")
def prepared(fixture_corpus, fixture_split, tmp_path_factory) -> Path:
    root, _ = fixture_corpus
    out = tmp_path_factory.mktemp("prepared")
    prepare_corpus(Pop909(root), load_split(fixture_split), out, PrepareConfig(workers=2))
    return out


def test_prepare_skips_bad_songs_and_excludes_off_grid_ones(
    fixture_corpus, fixture_split, tmp_path, caplog
) -> None:
    root, _ = fixture_corpus
    with caplog.at_level(logging.WARNING):
        result = prepare_corpus(
            Pop909(root), load_split(fixture_split), tmp_path, PrepareConfig(workers=1)
        )
    assert set(result.skipped) == {"003", "004", "404"}
    assert "chord_midi.txt" in result.skipped["003"]
    assert "key_audio.txt" in result.skipped["004"]
    warned = caplog.text
    assert "003" in warned and "chord_midi.txt" in warned and "key_audio.txt" in warned
    assert list(result.excluded) == ["005"]
    assert result.songs == {"train": 1, "valid": 1, "test": 0}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["split"]["train"] == ["001"]
    report = json.loads((tmp_path / "quantisation.json").read_text())
    assert report["songs"]["005"]["moved_64th"] == 32


def test_prepare_is_cached_by_configuration(fixture_corpus, fixture_split, tmp_path) -> None:
    root, _ = fixture_corpus
    split = load_split(fixture_split)
    first = prepare_corpus(Pop909(root), split, tmp_path, PrepareConfig(workers=1))
    again = prepare_corpus(Pop909(root), split, tmp_path, PrepareConfig(workers=1))
    assert not first.cached and again.cached
    # a looser exclusion rule is a different dataset: rebuilt, and 005 is back in
    loose = prepare_corpus(Pop909(root), split, tmp_path, PrepareConfig(1, max_off_grid=0.9))
    assert not loose.cached and loose.songs["train"] == 2
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["representation"] == representation_fingerprint()


def test_prepared_arrays_decode_to_the_adapters_scores(prepared, fixture_corpus) -> None:
    root, _ = fixture_corpus
    for split, song_id in (("train", "001"), ("valid", "002")):
        score = Pop909(root).load(song_id).score
        for role in Role:
            arrays = load_stage_arrays(prepared, split, role)
            assert arrays.song_ids == (song_id,)
            tokens, ticks = arrays.song(0)
            part = decode_part(TokenSequence(role, tokens, ticks))
            assert part.events == score.part(role)
            assert part.meters == score.meters
    empty = load_stage_arrays(prepared, "test", Role.MELODY)
    assert len(empty) == 0 and empty.tokens.shape[1] > 0


def test_statistics_count_what_the_tokens_hold(prepared, fixture_corpus) -> None:
    root, _ = fixture_corpus
    score = Pop909(root).load("001").score
    stats = dataset_statistics(prepared).by_split["train"]
    melody = stats["melody"]
    assert melody["bars"] == score.n_bars
    assert melody["events"] == len(score.melody)
    density = melody["density"]["4/4"]
    assert sum(density) == 8  # eight 4/4 bars
    expected = np.bincount(
        [
            len({n.onset for n in score.melody if b.start <= n.onset < b.end})
            for b in score.bars()
            if b.meter == TimeSignature(4, 4)
        ],
        minlength=17,
    )
    assert density == expected.tolist()
    accompaniment = stats["accompaniment"]
    assert sum(accompaniment["strength"]) == len({n.onset for n in score.accompaniment})
    assert stats["chord"]["events"] == len(score.chords)


def test_shipped_calibration_matches_the_current_representation() -> None:
    calibration = load_calibration()
    assert calibration["representation"] == representation_fingerprint(), (
        "the vocabulary changed: rerun `symbolic-v2m dataset stats DIR --calibration "
        "symbolic_v2m/data/calibration.json --force` on a fresh POP909 preparation"
    )
    for role in Role:
        tables = calibration["stages"][role.value]
        assert len(tables["density"]["4/4"]) == 17 and sum(tables["density"]["4/4"]) > 10_000


def test_cli_prepare_and_stats(fixture_corpus, fixture_split, tmp_path, capsys) -> None:
    root, _ = fixture_corpus
    out = tmp_path / "data"
    args = [
        "dataset",
        "prepare",
        "--pop909",
        str(root),
        "--out",
        str(out),
        "--split",
        str(fixture_split),
        "--workers",
        "1",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1 train, 1 valid, 0 test" in printed
    assert "skipped     003" in printed
    assert main(args) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["dataset", "stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert "train  melody" in table
    assert (out / "stats.json").is_file()
    calibration = tmp_path / "calibration.json"
    assert main(["dataset", "stats", str(out), "--calibration", str(calibration)]) == 0
    assert main(["dataset", "stats", str(out), "--calibration", str(calibration)]) == 1
    assert "exists" in capsys.readouterr().err


def test_cli_prepare_usage_errors(tmp_path, capsys) -> None:
    assert (
        main(["dataset", "prepare", "--pop909", str(tmp_path / "nope"), "--out", str(tmp_path)])
        == 2
    )
    assert "--pop909" in capsys.readouterr().err
    assert main(["dataset", "stats", str(tmp_path)]) == 1
    assert "not a prepared dataset" in capsys.readouterr().err
