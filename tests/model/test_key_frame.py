"""The key-relative frame and the training run's resume paths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from symbolic_v2m.cli import main
from symbolic_v2m.model import Constraints, CPTransformer, ModelConfig, SamplingConfig, generate
from symbolic_v2m.music import (
    KeyChange,
    Role,
    Score,
    StageContext,
    TimeSignature,
    decode_part,
    encode_part,
    stage_spec,
    transpose_tokens,
)
from symbolic_v2m.training import TrainConfig, load_run_config, train
from tests.model.test_model import TINY, _config
from tests.music.test_tokens import random_score


def _in_key(score: Score, tonic: int) -> Score:
    """``score`` with one key (``tonic`` major) from its first bar."""
    return replace(score, keys=(KeyChange(0, tonic, "major"),))


def _loss(model: CPTransformer, tokens: np.ndarray, ticks: np.ndarray) -> float:
    with torch.no_grad():
        loss, _ = model.loss(torch.as_tensor(tokens[None]).long(), torch.as_tensor(ticks[None]))
    return float(loss)


@pytest.mark.parametrize("stage", ["chord", "melody", "accompaniment"])
def test_a_key_relative_model_sees_a_song_and_its_transpositions_alike(stage: str) -> None:
    torch.manual_seed(0)
    relative = CPTransformer(ModelConfig(stage=stage, **TINY)).eval()
    torch.manual_seed(0)
    absolute = CPTransformer(ModelConfig(stage=stage, key_relative=False, **TINY)).eval()
    seq = encode_part(_in_key(random_score(np.random.default_rng(3), 6), 0), stage)
    spec = stage_spec(stage)
    # from C, up to 6 semitones either way moves the tonic to a key whose nearest C is this one
    for semitones in (-5, -2, 1, 4, 6):
        moved = transpose_tokens(seq.tokens, spec, semitones)
        assert moved is not None
        assert _loss(relative, moved, seq.ticks) == pytest.approx(
            _loss(relative, seq.tokens, seq.ticks), abs=1e-6
        )
        assert _loss(absolute, moved, seq.ticks) != pytest.approx(
            _loss(absolute, seq.tokens, seq.ticks), abs=1e-4
        )


@pytest.mark.parametrize(
    ("stage", "tonic", "shift"), [("melody", 2, 2), ("melody", 9, -3), ("chord", 6, 6)]
)
def test_key_relative_generation_moves_with_the_key(stage: str, tonic: int, shift: int) -> None:
    """Same choices, same scale degrees: in D the notes are C's moved up 2, in A down 3.
    (Greedy: a sampled index depends on the order of the vocabulary, which the move rotates.)"""
    torch.manual_seed(0)
    model = CPTransformer(ModelConfig(stage=stage, **TINY)).eval()
    meters = (TimeSignature(4, 4),) * 4
    greedy = SamplingConfig(temperature={}, default_temperature=0.0)

    def events(key_tonic: int, offset: int) -> tuple:
        context = StageContext.build(meters, (KeyChange(0, key_tonic, "minor"),))
        # an untrained model likes the vocabulary's edges: keep it in one register, the same
        # scale degrees in both keys
        bias = np.full((context.length, 128), -np.inf, dtype=np.float32)
        bias[:, 40 + offset : 90 + offset] = 0.0
        constraints = Constraints(meters, pitch_bias=bias)
        return decode_part(generate(model, context, constraints, greedy)[0]).events

    in_c, moved = events(0, 0), events(tonic, shift)
    assert len(in_c) == len(moved) > 0
    for a, b in zip(in_c, moved, strict=True):
        assert a.onset == b.onset
        if Role(stage) is Role.CHORD:
            assert a.quality == b.quality
            if a.root is not None:
                assert b.root == (a.root + shift) % 12 and b.bass == (a.bass + shift) % 12
        else:
            assert b.pitch == a.pitch + shift


def test_configs_written_before_the_frame_existed_load_as_absolute_pitch() -> None:
    old = ModelConfig(stage="melody").to_dict()
    del old["key_relative"], old["rotary"]
    legacy = ModelConfig.from_dict(old)
    assert not legacy.key_relative and not legacy.rotary
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()


def test_a_key_relative_run_is_not_transposed_and_an_absolute_one_is(prepared_fixture, tmp_path):
    from symbolic_v2m.training.train import transposition_range

    rel = _config(prepared_fixture, tmp_path)
    assert transposition_range(rel) == (0, 0)
    absolute = replace(rel, model=replace(rel.model, key_relative=False))
    assert transposition_range(absolute) == (-5, 6)
    assert transposition_range(replace(rel, transpose=(-2, 2))) == (-2, 2)


def test_a_run_stopped_by_its_clock_resumes_to_the_uninterrupted_weights(
    prepared_fixture, tmp_path
) -> None:
    straight = tmp_path / "straight"
    train(_config(prepared_fixture, straight))
    chopped = tmp_path / "chopped"
    # max_minutes=0: every process stops after one step; each resume carries on exactly
    config = _config(prepared_fixture, chopped, max_minutes=0.0)
    results = [train(config) for _ in range(6)]
    assert results[-1]["epoch"] == 2
    a = torch.load(straight / "last.pt", weights_only=False)
    b = torch.load(chopped / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for name in a["model"]:
        torch.testing.assert_close(a["model"][name], b["model"][name], atol=0, rtol=0)


def test_train_resume_takes_the_runs_own_settings(prepared_fixture, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    config = _config(prepared_fixture, run, max_minutes=0.0)
    train(config)  # one step, then stopped
    loaded = load_run_config(run)
    assert isinstance(loaded, TrainConfig)
    assert loaded.model == config.model
    assert loaded.seq_len == 32 and loaded.steps_per_epoch == 3
    code = main(["train", "--resume", str(run), "-q"])
    assert code == 0
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 2  # one more step (its clock still says 0 minutes)
    assert not (run / "log.jsonl").exists()  # no epoch (3 steps) finished yet
    assert main(["train", "--resume", str(tmp_path / "nothing-here"), "-q"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--resume", str(empty), "-q"]) == 1
    assert "not a training run to resume" in capsys.readouterr().err


def test_extending_a_finished_run_keeps_its_schedule_and_warms_up_again() -> None:
    from symbolic_v2m.training.train import _lr_factor, extend_run

    config = TrainConfig(stage="melody", data_dir="d", out_dir="o", epochs=10, steps_per_epoch=100)
    first = [_lr_factor(s, config, 1000) for s in range(1000)]
    longer = extend_run(config, 5, peak=0.5)
    assert longer.epochs == 15 and longer.restarts == ((1000, 0.5),)
    # the steps already taken had the same learning rate under the extended schedule
    assert [_lr_factor(s, longer, 1500) for s in range(1000)] == first
    restart = [_lr_factor(s, longer, 1500) for s in range(1000, 1500)]
    assert restart[0] == pytest.approx(config.min_lr_ratio, abs=0.01)  # no jump from the floor
    assert max(restart) == pytest.approx(0.5)
    assert restart[-1] == pytest.approx(config.min_lr_ratio, abs=1e-3)
    with pytest.raises(ValueError):
        extend_run(replace(config, steps_per_epoch=None), 5)


def test_train_resume_extend_carries_a_finished_run_on(prepared_fixture, tmp_path) -> None:
    run = tmp_path / "run"
    train(_config(prepared_fixture, run))  # 2 epochs of 3 steps: finished
    assert main(["train", "--resume", str(run), "--extend", "1", "-q"]) == 0
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 9 and len(state["history"]) == 3
    loaded = load_run_config(run)
    assert loaded.epochs == 3 and loaded.restarts == ((6, 0.5),)
    assert main(["train", "--extend", "1", "-q"]) == 2  # extends nothing without --resume
