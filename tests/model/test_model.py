"""The CP Transformer: cache equivalence, learning, constraints, checkpoints, resume, DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from symbolic_v2m.errors import InputError
from symbolic_v2m.model import (
    Constraints,
    CPTransformer,
    KVCache,
    ModelConfig,
    SamplingConfig,
    generate,
    load_model,
    save_model,
)
from symbolic_v2m.music import (
    Chord,
    KeyChange,
    Role,
    Score,
    StageContext,
    TempoMap,
    TimeSignature,
    decode_part,
    encode_part,
    stage_spec,
)
from symbolic_v2m.training import TrainConfig, train
from tests.music.test_tokens import random_score

TINY = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "dropout": 0.0}


def tiny(stage: str, **kw) -> CPTransformer:
    torch.manual_seed(0)
    return CPTransformer(ModelConfig(stage=stage, **(TINY | kw))).eval()


@pytest.mark.parametrize("stage", ["chord", "melody", "accompaniment"])
def test_cached_decoding_gives_the_full_forward_logits(stage: str) -> None:
    model = tiny(stage)
    seq = encode_part(random_score(np.random.default_rng(1), 6), stage)
    tokens = torch.as_tensor(seq.tokens[None]).long()
    ticks = torch.as_tensor(seq.ticks[None]).long()
    with torch.no_grad():
        full = model.hidden(tokens, ticks)
        cache = KVCache(len(model.blocks))
        parts = [model.hidden(tokens[:, :5], ticks[:, :5], cache=cache)]
        for t in range(5, tokens.shape[1]):
            parts.append(model.hidden(tokens[:, t : t + 1], ticks[:, t : t + 1], cache=cache))
        incremental = torch.cat(parts, dim=1)
        next_types = tokens[:, 1:, 0]
        a = model.family_logits(full[:, :-1], next_types, chosen=tokens[:, 1:])
        b = model.family_logits(incremental[:, :-1], next_types, chosen=tokens[:, 1:])
    assert cache.length == tokens.shape[1]
    torch.testing.assert_close(
        model.type_logits(incremental), model.type_logits(full), atol=1e-4, rtol=0
    )
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-4, rtol=0)


def test_tiny_model_overfits_a_tiny_fixture() -> None:
    torch.manual_seed(0)
    model = CPTransformer(ModelConfig(stage="melody", **(TINY | {"d_model": 64})))
    seq = encode_part(random_score(np.random.default_rng(2), 4), Role.MELODY)
    tokens = torch.as_tensor(seq.tokens[None]).long()
    ticks = torch.as_tensor(seq.ticks[None]).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        loss, _ = model.loss(tokens, ticks)
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        final, _ = model.loss(tokens, ticks)
    assert first > 2.0
    assert float(final) < 0.1, f"loss {float(final):.3f} did not fall below 0.1"


def _densities(part, meters) -> list[int]:
    starts = np.cumsum([0] + [m.ticks() for m in meters])
    return [
        len({n.onset for n in part.events if a <= n.onset < b})
        for a, b in zip(starts[:-1], starts[1:], strict=True)
    ]


def test_generation_honours_forced_controls_masks_and_hooks() -> None:
    model = tiny("melody")
    meters = (TimeSignature(4, 4), TimeSignature(3, 4), TimeSignature(4, 4), TimeSignature(2, 4))
    context = StageContext.build(meters)
    density = np.array([3, 12, 0, 5])  # bar 1: every tick of a 3/4 bar has an onset
    strength = np.full(context.length, -1)
    strength[16:28] = [1, 2] * 6  # bar 1's ticks
    scale = {0, 2, 4, 5, 7, 9, 11}
    pitch_bias = np.full((context.length, 128), -np.inf)
    for p in range(60, 85):
        if p % 12 in scale:
            pitch_bias[:, p] = 0.0
    velocity = stage_spec(Role.MELODY).family("velocity")
    loud = [velocity.index(v) for v in velocity.values if v > 63]

    def quiet(family, states, logits):
        if family == "velocity":
            logits = logits.clone()
            logits[:, loud] = -torch.inf
        return logits

    constraints = Constraints(
        meters, density=density, strength=strength, pitch_bias=pitch_bias, hooks=(quiet,)
    )
    candidates = generate(model, context, constraints, n=4, seed=3)
    assert len(candidates) == 4
    assert len({c.tokens.tobytes() for c in candidates}) > 1  # a batch of different candidates
    for seq in candidates:
        part = decode_part(seq)
        assert part.meters == meters
        assert _densities(part, meters) == density.tolist()
        for tick in range(16, 28):
            assert sum(n.onset == tick for n in part.events) == strength[tick]
        assert all(n.pitch % 12 in scale and 60 <= n.pitch <= 84 for n in part.events)
        assert all(n.velocity <= 63 for n in part.events)


def test_a_simu_note_never_repeats_a_pitch() -> None:
    """Eight-note simu-notes on every beat from an untrained model, whose pitch logits are
    pushed hard toward one pitch: each simu-note still has eight (at the top strength, eight or
    more) different pitches."""
    model = tiny("accompaniment")
    meters = (TimeSignature(4, 4),) * 4
    context = StageContext.build(meters)
    strength = np.full(context.length, -1)
    strength[::4] = 8
    onsets = np.zeros(context.length, dtype=bool)
    onsets[::4] = True
    bias = np.zeros((context.length, 128))
    bias[:, 60] = 50.0  # nearly all probability on middle C

    constraints = Constraints(
        meters, density=np.full(4, 4), strength=strength, pitch_bias=bias, onsets=onsets
    )
    for seq in generate(model, context, constraints, n=3, seed=1):
        notes = decode_part(seq).events
        for tick in range(0, context.length, 4):
            pitches = [n.pitch for n in notes if n.onset == tick]
            assert len(pitches) >= 8 and len(set(pitches)) == len(pitches), (tick, pitches)


def test_chord_stage_is_forced_to_a_given_progression() -> None:
    model = tiny("chord")
    meters = (TimeSignature(4, 4),) * 4
    forced = {
        0: [
            {"position": 0, "root": 9, "quality": "min", "bass": 9},
            {"position": 8, "root": 5, "quality": "maj", "bass": 5},
        ],
        2: [{"position": 0, "root": 0, "quality": "maj", "bass": 4}],
    }
    for seq in generate(
        model, StageContext.build(meters), Constraints(meters, forced_events=forced), n=3, seed=5
    ):
        chords = decode_part(seq).events
        assert [(c.onset, c.root, c.quality, c.bass) for c in chords if c.onset < 16] == [
            (0, 9, "min", 9),
            (8, 5, "maj", 5),
        ]
        assert [(c.root, c.quality, c.bass) for c in chords if 32 <= c.onset < 48] == [
            (0, "maj", 4)
        ]


def test_greedy_and_seeded_generation_is_reproducible_and_cache_free_path_agrees() -> None:
    model = tiny("accompaniment")
    meters = (TimeSignature(4, 4),) * 2
    context = StageContext.build(meters)
    c = Constraints(meters, density=np.array([4, 2]))
    one = generate(model, context, c, n=2, seed=9)
    two = generate(model, context, c, n=2, seed=9)
    slow = generate(model, context, c, n=2, seed=9, use_cache=False)
    for a, b, s in zip(one, two, slow, strict=True):
        np.testing.assert_array_equal(a.tokens, b.tokens)
        np.testing.assert_array_equal(a.tokens, s.tokens)
    greedy = SamplingConfig(temperature={}, default_temperature=0.0)
    g1 = generate(model, context, c, greedy, n=1, seed=1)[0]
    g2 = generate(model, context, c, greedy, n=1, seed=2)[0]
    np.testing.assert_array_equal(g1.tokens, g2.tokens)


def test_checkpoint_round_trip_gives_identical_generations(tmp_path: Path) -> None:
    model = tiny("melody")
    path = tmp_path / "melody.safetensors"
    save_model(model, path)
    loaded = load_model(path, "cpu")
    meters = (TimeSignature(4, 4),) * 3
    context = StageContext.build(meters)
    a = generate(model, context, Constraints(meters), n=2, seed=4)
    b = generate(loaded, context, Constraints(meters), n=2, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.tokens, y.tokens)
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(InputError, match="bad.safetensors"):
        load_model(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def _config(prepared: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        stage="melody",
        data_dir=str(prepared),
        out_dir=str(out),
        model=ModelConfig(**TINY),
        seq_len=32,
        batch_size=4,
        epochs=2,
        steps_per_epoch=3,
        warmup_steps=2,
        device="cpu",
    )
    return TrainConfig(**(base | kw))


def test_interrupted_training_resumes_to_the_same_weights(prepared_fixture, tmp_path) -> None:
    straight = tmp_path / "straight"
    resumed = tmp_path / "resumed"
    train(_config(prepared_fixture, straight))

    def interrupt(step: int, total: int, loss: float) -> None:
        if step == 4:  # after epoch 1's checkpoint (step 3), mid-way through epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(prepared_fixture, resumed), interrupt)
    assert json.loads((resumed / "log.jsonl").read_text().splitlines()[-1])["epoch"] == 1
    result = train(_config(prepared_fixture, resumed))
    assert result["epoch"] == 2
    a = torch.load(straight / "last.pt", weights_only=False)["model"]
    b = torch.load(resumed / "last.pt", weights_only=False)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]
    assert set(log[-1]["valid"]["families"]) >= {"type", "pitch", "duration", "density"}
    assert (resumed / "loss.png").stat().st_size > 1000
    assert load_model(resumed / "best.safetensors").config.stage == "melody"


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_keeps_replicas_identical(prepared_fixture, tmp_path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun comes with torch"
    out = tmp_path / "ddp"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "symbolic_v2m.cli",
        "train",
        "--stage",
        "chord",
        "--data",
        str(prepared_fixture),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--seq-len",
        "32",
        "--d-model",
        "32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--device",
        "cpu",
        "-q",
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    replicas = json.loads((out / "replicas.json").read_text())
    assert replicas["world_size"] == 2 and replicas["identical"], replicas
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["world_size"] for e in log] == [2, 2]
    assert (out / "best.safetensors").is_file()


def test_a_prompt_cut_at_a_bar_line_must_start_with_the_bar() -> None:
    model = tiny("melody")
    meters = (TimeSignature(4, 4),) * 2
    score = random_score(np.random.default_rng(3), 2)
    tokens = encode_part(score, Role.MELODY).tokens  # starts with bos, not a bar token
    with pytest.raises(ValueError, match="bar"):
        generate(model, StageContext.build(meters), Constraints(meters), prompt=tokens[:3],
                 prompt_bar=1)  # fmt: skip


def _vi_or_iv_song(rng: np.random.Generator, n_bars: int) -> Score:
    """C major, one chord a bar, each at random A minor (vi) or F major (IV): the root alone
    or the quality alone says nothing about the next chord, the pair is always one of two."""
    pairs = [(9, "min"), (5, "maj")]
    chords = []
    for bar in range(n_bars):
        root, quality = pairs[int(rng.integers(2))]
        chords.append(Chord(16 * bar, 16, root, quality, root))
    return Score(
        meters=(TimeSignature(4, 4),) * n_bars,
        tempo=TempoMap.constant(100.0),
        keys=(KeyChange(0, 0, "major"),),
        chords=tuple(chords),
    ).normalised()


@pytest.mark.parametrize("chained", [False, True])
def test_chained_heads_write_the_root_that_goes_with_the_quality(chained: bool) -> None:
    # sampled apart, the root and the quality of a chord mix vi and IV: A major, F minor
    rng = np.random.default_rng(0)
    seqs = [encode_part(_vi_or_iv_song(rng, 4), Role.CHORD) for _ in range(32)]  # no memorising
    tokens = torch.as_tensor(np.stack([s.tokens for s in seqs])).long()
    ticks = torch.as_tensor(np.stack([s.ticks for s in seqs])).long()
    torch.manual_seed(0)
    model = CPTransformer(ModelConfig(stage="chord", chained=chained, **TINY))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss, _ = model.loss(tokens, ticks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    meters = (TimeSignature(4, 4),) * 8
    context = StageContext.build(meters, (KeyChange(0, 0, "major"),))
    chords = [
        (c.root, c.quality)
        for seq in generate(model, context, Constraints(meters, density=np.ones(8)), n=8, seed=1)
        for c in decode_part(seq).events
    ]
    mixed = sum(pair not in {(9, "min"), (5, "maj")} for pair in chords) / len(chords)
    assert len(chords) == 64
    if chained:
        assert mixed < 0.05
    else:
        assert mixed > 0.25  # about half: the two families are sampled independently


def test_a_chained_model_started_from_unchained_weights_predicts_as_they_did(
    tmp_path: Path,
) -> None:
    from symbolic_v2m.training.train import start_from

    source = tiny("chord", chained=False)
    path = tmp_path / "chord.safetensors"
    save_model(source, path)
    chained = tiny("chord", chained=True)
    start_from(chained, path)
    seq = encode_part(random_score(np.random.default_rng(3), 6), Role.CHORD)
    tokens = torch.as_tensor(seq.tokens[None]).long()
    ticks = torch.as_tensor(seq.ticks[None]).long()
    with torch.no_grad():
        a, b = source(tokens, ticks), chained(tokens, ticks)
    assert set(a) == set(b) and {"root", "bass"} <= set(a)
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=0, rtol=0)
    save_model(tiny("melody"), tmp_path / "melody.safetensors")
    with pytest.raises(InputError, match="melody model"):
        start_from(chained, tmp_path / "melody.safetensors")
    save_model(tiny("chord", d_model=48), tmp_path / "wide.safetensors")
    with pytest.raises(InputError, match="another network"):
        start_from(chained, tmp_path / "wide.safetensors")
