"""Training one stage's CP Transformer on prepared token arrays, alone or under ``torchrun``.

    symbolic-v2m train --stage melody --data data/pop909 --out runs/melody
    symbolic-v2m train --resume runs/melody          # carry on where it stopped
    torchrun --nproc_per_node 4 -m symbolic_v2m.cli train --stage melody --data ... --out ...

What a run does: random windows of ``seq_len`` tokens that start on a bar line (or the song's
start); for an absolute-pitch model each is transposed by a random interval (the key, chord and
pitch families move together, :func:`~symbolic_v2m.music.tokens.transpose_tokens`), a
key-relative model sees every song on its own tonic and needs none; AdamW; linear warm-up then
cosine decay; gradient clipping; after every epoch the per-family validation loss and accuracy
over the whole valid split, a checkpoint, the best weights by validation loss, a loss-curve PNG.

Resuming is exact: ``RUN/last.pt`` holds the model, optimiser, scheduler, step and the random
states of the window sampler and of torch, written every epoch and every
``checkpoint_minutes``; a killed run started again (the same command, or ``--resume RUN``)
carries on from it as if never stopped. ``max_minutes`` stops a process cleanly at a
checkpoint, for runs that span sessions. ``RUN/log.jsonl`` (per epoch) and
``RUN/sessions.jsonl`` (per process) keep the run's history. Under ``torchrun`` the same code
trains with DistributedDataParallel (NCCL on GPUs, gloo on CPUs); rank 0 validates and writes.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from symbolic_v2m.data.prepare import StageArrays, load_stage_arrays
from symbolic_v2m.model.checkpoint import pick_device, save_model
from symbolic_v2m.model.transformer import CPTransformer, ModelConfig
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.tokens import transpose_tokens
from symbolic_v2m.music.vocab import stage_spec


@dataclass(frozen=True)
class TrainConfig:
    """A training run. ``steps_per_epoch=None`` means one pass over the train tokens."""

    stage: str
    data_dir: str
    out_dir: str
    model: ModelConfig = field(default_factory=ModelConfig)
    seq_len: int = 512
    batch_size: int = 16
    lr: float = 6e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    epochs: int = 10
    steps_per_epoch: int | None = None
    grad_clip: float = 1.0
    #: random transposition range in semitones; ``None``: none for a key-relative model (it
    #: sees every song on tonic C anyway), -5..6 for an absolute-pitch one
    transpose: tuple[int, int] | None = None
    seed: int = 0
    device: str | None = None
    #: a killed run loses at most this much work
    checkpoint_minutes: float = 5.0
    max_valid_windows: int | None = None
    #: stop (checkpointed, resumable) once this much wall time has passed in this process
    max_minutes: float | None = None
    #: warm restarts that extended a run past its first schedule, as (step, peak): from that
    #: step the learning rate warms up again to ``peak * lr`` and decays by cosine to the
    #: floor at the next restart or the end (see :func:`extend_run`)
    restarts: tuple[tuple[int, float], ...] = ()
    #: weights (a model file) that start the run instead of a random initialisation: a
    #: fine-tune. The network is the file's; parameters the file lacks (a chained model's
    #: given-family tables, :class:`~symbolic_v2m.model.ModelConfig`) start at zero
    init_from: str | None = None
    #: with ``init_from``: the learning rate of the parameters the file lacks, as a multiple
    #: of ``lr``; they start at zero and must grow to matter, while the rest is already trained
    new_lr_scale: float = 10.0

    def to_dict(self) -> dict:
        return asdict(self)


def load_run_config(run_dir: Path | str, device: str | None = None) -> TrainConfig:
    """The settings a run was started with (``RUN/config.json``), to resume it: the run
    directory is where it is now, and ``device`` may differ (a run moves between machines)."""
    from symbolic_v2m.errors import InputError

    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not (run_dir / "last.pt").is_file() or not path.is_file():
        raise InputError(f"{run_dir}: not a training run to resume (no last.pt / config.json)")
    try:
        d = json.loads(path.read_text())
        model = ModelConfig.from_dict(d.pop("model"))
        if d.get("transpose") is not None:
            d["transpose"] = tuple(d["transpose"])
        d["restarts"] = tuple((int(s), float(p)) for s, p in d.get("restarts", ()))
        d.update(out_dir=str(run_dir), device=device or d.get("device"))
        return TrainConfig(model=model, **d)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: unreadable run settings ({exc})") from None


@dataclass
class History:
    """Per-epoch figures, kept in the checkpoint and written as ``log.jsonl``."""

    epochs: list[dict] = field(default_factory=list)


def _windows_for_validation(arrays: StageArrays, seq_len: int, limit: int | None):
    """Consecutive windows of seq_len + 1 tokens over every valid song (deterministic)."""
    windows = []
    for i in range(len(arrays)):
        tokens, ticks = arrays.song(i)
        for start in range(0, max(len(tokens) - 1, 1), seq_len):
            windows.append(
                (tokens[start : start + seq_len + 1], ticks[start : start + seq_len + 1])
            )
    return windows[:limit] if limit else windows


def _stack(windows: list[tuple[np.ndarray, np.ndarray]], width: int, length: int):
    """Pad windows at the end (index 0 everywhere = no target) -> (B, L, F), (B, L) tensors."""
    tokens = np.zeros((len(windows), length, width), dtype=np.int64)
    ticks = np.zeros((len(windows), length), dtype=np.int64)
    for b, (t, k) in enumerate(windows):
        tokens[b, : len(t)] = t
        ticks[b, : len(k)] = k
        if len(k):
            ticks[b, len(k) :] = k[-1]
    return torch.from_numpy(tokens), torch.from_numpy(ticks)


class WindowSampler:
    """Random training windows: a song by length, a start on a bar token, a transposition."""

    def __init__(self, arrays: StageArrays, config: TrainConfig, seed: int) -> None:
        self.arrays = arrays
        self.config = config
        self.spec = stage_spec(arrays.role)
        self.rng = np.random.default_rng(seed)
        lengths = np.diff(arrays.offsets).astype(np.float64)
        self.p = lengths / lengths.sum()
        bar = self.spec.type_index("bar")
        bos = self.spec.type_index("bos")
        types = arrays.tokens[:, 0]
        self.starts = np.flatnonzero((types == bar) | (types == bos))

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        windows = []
        length = self.config.seq_len + 1
        low, high = transposition_range(self.config)
        for song in self.rng.choice(len(self.arrays), size=size, p=self.p):
            a, b = int(self.arrays.offsets[song]), int(self.arrays.offsets[song + 1])
            candidates = self.starts[(self.starts >= a) & (self.starts < max(a + 1, b - 8))]
            start = int(self.rng.choice(candidates)) if len(candidates) else a
            tokens = self.arrays.tokens[start : min(start + length, b)]
            ticks = self.arrays.ticks[start : min(start + length, b)]
            moved = transpose_tokens(tokens, self.spec, int(self.rng.integers(low, high + 1)))
            windows.append((tokens if moved is None else moved, ticks))
        return _stack(windows, len(self.spec.families), length)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def transposition_range(config: TrainConfig) -> tuple[int, int]:
    """The semitones a training window may be moved by (see ``TrainConfig.transpose``)."""
    if config.transpose is not None:
        return tuple(config.transpose)
    return (0, 0) if config.model.key_relative else (-5, 6)


def extend_run(config: TrainConfig, epochs: int, peak: float = 0.5) -> TrainConfig:
    """The settings of a finished (or running) run carried on for ``epochs`` more epochs with a
    warm restart: the steps so far keep the schedule they had, and from the run's current end
    the learning rate warms up again to ``peak * lr`` and decays by cosine over the new epochs.

    A run whose cosine has reached its floor learns little more at that rate; a restart to a
    fraction of the first peak (SGDR, Loshchilov & Hutter 2017) goes on improving it without
    starting again from scratch, and the run's history stays one record.
    """
    if epochs < 1 or not 0 < peak <= 1:
        raise ValueError("extend_run needs epochs >= 1 and 0 < peak <= 1")
    steps_per_epoch = config.steps_per_epoch
    if steps_per_epoch is None:
        raise ValueError("only runs with a fixed --steps-per-epoch can be extended")
    start = steps_per_epoch * config.epochs
    return replace(
        config, epochs=config.epochs + epochs, restarts=(*config.restarts, (start, peak))
    )


def _lr_factor(step: int, config: TrainConfig, total: int) -> float:
    """The learning rate at ``step`` as a fraction of ``config.lr``: linear warm-up and cosine
    decay to ``min_lr_ratio``, once per segment (the first schedule, then each restart)."""
    floor = config.min_lr_ratio
    bounds = [0, *(s for s, _ in config.restarts), total]
    segment = max(i for i in range(len(bounds) - 1) if bounds[i] <= step or i == 0)
    start, end = bounds[segment], max(bounds[segment + 1], bounds[segment] + 1)
    local = step - start
    if segment == 0:
        peak, low = 1.0, 0.0
    else:
        peak, low = config.restarts[segment - 1][1], floor
    if local < config.warmup_steps:
        return low + (peak - low) * (local + 1) / config.warmup_steps
    span = max(1, end - start - config.warmup_steps)
    progress = min(1.0, (local - config.warmup_steps) / span)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: CPTransformer, windows, batch_size: int, device: torch.device) -> dict:
    """Per-family mean loss and accuracy over ``windows``, and their mean (``loss``)."""
    model.eval()
    width = len(model.spec.families)
    sums: dict[str, list[float]] = {}
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        length = max(len(t) for t, _ in chunk)
        tokens, ticks = _stack(chunk, width, length)
        _, report = model.loss(tokens.to(device), ticks.to(device))
        for name, (loss, correct, count) in report.items():
            s = sums.setdefault(name, [0.0, 0, 0])
            s[0] += loss
            s[1] += correct
            s[2] += count
    model.train()
    per_family = {n: {"loss": s[0] / s[2], "accuracy": s[1] / s[2]} for n, s in sums.items()}
    return {
        "loss": float(np.mean([v["loss"] for v in per_family.values()])),
        "families": per_family,
    }


def _plot(history: History, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symbolic_v2m.export.files import atomic_output

    epochs = [e["epoch"] for e in history.epochs]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [e["train"]["loss"] for e in history.epochs], "o-", label="train")
    ax.plot(epochs, [e["valid"]["loss"] for e in history.epochs], "o-", label="valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean cross-entropy over families")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _log_session(
    out: Path, event: str, step: int, device: torch.device, world: int, **extra: object
) -> None:
    """One line per process start and clean stop in ``RUN/sessions.jsonl``: a run trained over
    several sessions (and machines) keeps its whole history for the model card. A killed
    process leaves a start without a stop; its last checkpoint says where it got to."""
    import platform

    line = {
        "event": event,
        "time": time.time(),
        "step": step,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "world_size": world,
        "host": platform.node(),
        **extra,
    }
    with open(out / "sessions.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


#: the parameters a fine-tune's start file may lack: the chained heads' given-family tables
_GIVEN = "given."


def _new(name: str, config: TrainConfig) -> bool:
    """Whether parameter ``name`` is one a fine-tune's start file lacks (:func:`start_from`)."""
    return config.init_from is not None and name.startswith(_GIVEN)


def start_from(model: CPTransformer, path: Path) -> None:
    """Load a model file's parameters into ``model`` (a fine-tune's start). Only the chained
    heads' given-family tables may be missing from the file (they stay at zero, so the model
    starts out predicting as the file's did); anything else that does not match is an error.

    Raises:
        InputError: the file is not a model of this network.
    """
    from symbolic_v2m.errors import InputError
    from symbolic_v2m.model.checkpoint import load_model

    source = load_model(path, "cpu")
    state = source.state_dict()
    if source.config.stage != model.config.stage:
        raise InputError(f"{path}: a {source.config.stage} model, not {model.config.stage}")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes differ
        raise InputError(f"{path}: another network's weights ({exc})") from None
    missing = [k for k in missing if not k.startswith(_GIVEN)]
    if missing or unexpected:
        raise InputError(
            f"{path}: another network's weights (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]})"
        )


def train(config: TrainConfig, progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Run (or resume) a training run; returns the final epoch's figures (see module doc)."""
    rank, world = _distributed()
    out = Path(config.out_dir)
    role = Role(config.stage)
    model_config = replace(config.model, stage=role.value, max_context=config.seq_len)
    if config.device:
        device = pick_device(config.device)
    elif world > 1 and torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    else:
        device = pick_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)

    train_arrays = load_stage_arrays(Path(config.data_dir), "train", role)
    valid_arrays = load_stage_arrays(Path(config.data_dir), "valid", role)
    sampler = WindowSampler(train_arrays, config, config.seed + 1000 * rank)
    steps_per_epoch = config.steps_per_epoch or max(
        1, len(train_arrays.tokens) // (config.batch_size * config.seq_len * world)
    )
    total_steps = steps_per_epoch * config.epochs

    model = CPTransformer(model_config).to(device)
    groups = [{"params": [p for n, p in model.named_parameters() if not _new(n, config)]}]
    new = [p for n, p in model.named_parameters() if _new(n, config)]
    if new:
        groups.append({"params": new, "lr": config.lr * config.new_lr_scale})
    optimizer = torch.optim.AdamW(
        groups, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, config, total_steps)
    )
    history = History()
    step = 0
    best = math.inf
    last_path = out / "last.pt"
    if last_path.is_file():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, best = state["step"], state["best"]
        history = History(state["history"])
        sampler.set_state(
            state["sampler"][rank] if rank < len(state["sampler"]) else sampler.state()
        )
        torch.set_rng_state(state["torch_rng"])
        # a run extended since its checkpoint (extend_run) takes its new schedule from here
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = base * _lr_factor(step, config, total_steps)
    elif config.init_from:
        start_from(model, Path(config.init_from))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
        _log_session(out, "start", step, device, world)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    valid_windows = _windows_for_validation(valid_arrays, config.seq_len, config.max_valid_windows)

    def checkpoint() -> None:
        samplers = [sampler.state()]
        if world > 1:
            gathered: list = [None] * world
            dist.all_gather_object(gathered, sampler.state())
            samplers = gathered
        if rank != 0:
            return
        from symbolic_v2m.export.files import atomic_output

        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "best": best,
            "history": history.epochs,
            "sampler": samplers,
            "torch_rng": torch.get_rng_state(),
            "config": config.to_dict(),
        }
        with atomic_output(last_path) as tmp:
            torch.save(state, tmp)

    model.train()
    started = last_save = time.monotonic()
    running: dict[str, list[float]] = {}
    result: dict = history.epochs[-1] if history.epochs else {}
    while step < total_steps:
        tokens, ticks = sampler.batch(config.batch_size)
        tokens, ticks = tokens.to(device), ticks.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            # through the (DDP) wrapper's forward, so that gradients are all-reduced
            loss, report = model.loss_from_logits(net(tokens, ticks), tokens)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        for name, (s, correct, count) in report.items():
            r = running.setdefault(name, [0.0, 0, 0])
            r[0] += s
            r[1] += correct
            r[2] += count
        if progress and rank == 0:
            progress(step, total_steps, float(loss.detach()))
        if step % steps_per_epoch == 0:
            train_fig = {
                n: {"loss": r[0] / r[2], "accuracy": r[1] / r[2]} for n, r in running.items()
            }
            running = {}
            if rank == 0:
                valid = evaluate(model, valid_windows, config.batch_size, device)
                result = {
                    "epoch": step // steps_per_epoch,
                    "step": step,
                    "lr": scheduler.get_last_lr()[0],
                    "train": {
                        "loss": float(np.mean([v["loss"] for v in train_fig.values()])),
                        "families": train_fig,
                    },
                    "valid": valid,
                    "time": time.time(),
                    "world_size": world,
                }
                history.epochs.append(result)
                with open(out / "log.jsonl", "a") as fh:
                    fh.write(json.dumps(result) + "\n")
                if valid["loss"] < best:
                    best = valid["loss"]
                    save_model(
                        model,
                        out / "best.safetensors",
                        extra={
                            "epoch": result["epoch"],
                            "step": step,
                            "valid": valid,
                            "train": result["train"],
                            "train_config": config.to_dict(),
                        },
                    )
                _plot(history, out / "loss.png")
            checkpoint()
            last_save = time.monotonic()
        elif time.monotonic() - last_save > 60 * config.checkpoint_minutes:
            checkpoint()
            last_save = time.monotonic()
        if config.max_minutes is not None and time.monotonic() - started > 60 * config.max_minutes:
            checkpoint()  # stopped by the clock: `train --resume` carries on from here
            break
    if rank == 0:
        _log_session(out, "stop", step, device, world, finished=step >= total_steps)
    if world > 1:
        # DDP keeps replicas identical by all-reducing gradients; check it, and say so
        checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
        sums: list = [None] * world
        dist.all_gather_object(sums, checksum)
        if rank == 0:
            (out / "replicas.json").write_text(
                json.dumps(
                    {
                        "world_size": world,
                        "checksums": sums,
                        "identical": max(sums) - min(sums) <= 1e-9 * max(1.0, abs(sums[0])),
                    }
                )
                + "\n"
            )
        dist.barrier()
        dist.destroy_process_group()
    return result
