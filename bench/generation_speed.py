"""Generation speed: tokens per second with and without the KV cache, and a 3-minute piece.

    python bench/generation_speed.py [--device cpu|cuda] [--weights PATH] [--steps 128]

1. Per-token speed when the sequence is already 1k, 4k and 8k tokens long: the model (the default
   accompaniment size, context widened to 8,192 so nothing slides) continues a prompt of that
   length for ``--steps`` tokens. With the cache each step runs one position; without it each
   step recomputes the whole sequence, as CMT does. Prefill (the first step) is not counted.
2. The accompaniment of a 3-minute piece (90 bars of 4/4 at 120 BPM, densities drawn from the
   calibration tables) generated end to end, as the compose command will: wall time and tokens.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from symbolic_v2m.data import load_calibration
from symbolic_v2m.model import Constraints, CPTransformer, ModelConfig, generate, load_model
from symbolic_v2m.model.checkpoint import pick_device
from symbolic_v2m.music import (
    KeyChange,
    Note,
    Role,
    Score,
    StageContext,
    TempoMap,
    TimeSignature,
    encode_part,
    stage_spec,
)
from symbolic_v2m.music.vocab import DURATIONS


def long_prompt(n_tokens: int, seed: int = 0) -> tuple[Score, np.ndarray]:
    """A random accompaniment dense enough to give ``n_tokens`` tokens, and its tokens."""
    rng = np.random.default_rng(seed)
    velocities = stage_spec(Role.ACCOMPANIMENT).family("velocity").values
    n_bars = n_tokens // 20 + 2
    notes = []
    for tick in range(0, 16 * n_bars, 2):
        for pitch in rng.choice(np.arange(36, 84), size=3, replace=False):
            notes.append(
                Note(tick, int(rng.choice(DURATIONS[:8])), int(pitch), int(rng.choice(velocities)))
            )
    score = Score(
        meters=(TimeSignature(4, 4),) * n_bars,
        tempo=TempoMap.constant(120),
        keys=(KeyChange(0, 0, "major"),),
        accompaniment=tuple(notes),
    ).normalised()
    tokens = encode_part(score, Role.ACCOMPANIMENT).tokens
    assert len(tokens) >= n_tokens
    return score, tokens


#: runs of each timing; the fastest counts
REPEATS = 3


def per_token_speed(model: CPTransformer, length: int, steps: int, use_cache: bool) -> float:
    """Tokens per second for ``steps`` new tokens after a prompt of ``length`` tokens."""
    score, tokens = long_prompt(length + 1)
    context = StageContext.from_score(score)
    constraints = Constraints(score.meters)
    prompt = tokens[:length]

    def timed(n: int) -> tuple[float, int]:
        """Seconds and tokens written for at most ``n`` steps (a model may end the piece early:
        count what it wrote, not what was asked)."""
        start = time.perf_counter()
        out = generate(
            model, context, constraints, prompt=prompt, use_cache=use_cache, max_tokens=n
        )
        if model_device(model).type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, len(out[0]) - len(prompt)

    timed(2)  # warm-up
    # the prefill of a long prompt costs far more than the steps measured, and it varies from
    # run to run: the fastest of a few runs of each keeps that noise out of the difference
    first, first_tokens = min(timed(1) for _ in range(REPEATS))
    total, total_tokens = min(timed(steps + 1) for _ in range(REPEATS))
    return (total_tokens - first_tokens) / max(total - first, 1e-9)


def model_device(model: CPTransformer) -> torch.device:
    return next(model.parameters()).device


def three_minute_piece(model: CPTransformer, seed: int = 0) -> tuple[float, int]:
    """Seconds and tokens to write a 90-bar 4/4 accompaniment with calibrated densities."""
    rng = np.random.default_rng(seed)
    hist = np.asarray(load_calibration()["stages"]["accompaniment"]["density"]["4/4"], float)
    density = rng.choice(len(hist), size=90, p=hist / hist.sum())
    meters = (TimeSignature(4, 4),) * 90
    context = StageContext.build(meters, keys=(KeyChange(0, 0, "major"),))
    start = time.perf_counter()
    out = generate(model, context, Constraints(meters, density=density), seed=seed)
    return time.perf_counter() - start, len(out[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--weights", default=None, help="trained accompaniment weights")
    parser.add_argument("--steps", type=int, default=128, help="cached steps timed")
    parser.add_argument("--lengths", default="1024,4096,8192")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.weights:
        trained = load_model(args.weights, device)
        config = trained.config
    else:
        trained = None
        config = ModelConfig(stage="accompaniment", d_model=256, n_layers=4, n_heads=4, d_ff=1024)
    wide = CPTransformer(replace(config, max_context=8192)).to(device).eval()
    if trained is not None:
        wide.load_state_dict(trained.state_dict())
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}"
    )
    print(f"model d={config.d_model} layers={config.n_layers} params={wide.n_parameters():,}")
    print("| tokens in context | cached tok/s | uncached tok/s | speed-up |")
    print("|---|---|---|---|")
    for length in (int(x) for x in args.lengths.split(",")):
        cached = per_token_speed(wide, length, args.steps, use_cache=True)
        uncached = per_token_speed(wide, length, max(4, args.steps // 16), use_cache=False)
        print(f"| {length} | {cached:.1f} | {uncached:.2f} | {cached / uncached:.1f}x |")
    model = trained or CPTransformer(replace(config, max_context=512)).to(device).eval()
    seconds, tokens = three_minute_piece(model)
    print(
        f"3-minute accompaniment (90 bars 4/4): {tokens} tokens in {seconds:.1f} s "
        f"({tokens / seconds:.0f} tok/s, {'trained' if trained else 'untrained'} weights, "
        f"context window {model.config.max_context})"
    )


if __name__ == "__main__":
    main()
