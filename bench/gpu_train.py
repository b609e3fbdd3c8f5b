"""Train the three stages on a lent GPU in one short device call, and bring the weights back.

Here (a CPU machine with the prepared data and PyPI):

    python bench/gpu_train.py pack            # .gpu/pop909 (compressed arrays) + .whl/ (wheels)

Then, only when the device tool's ``status`` says a machine can be had, one call of its ``run``
with ``carry: [".gpu", ".whl"]`` and ``timeout_s: 600``::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD \
        && PYTHONUNBUFFERED=1 python3 bench/gpu_train.py run --minutes 7

``run`` trains chord, melody and accompaniment at once (three processes share the one GPU:
these models are far too small to fill it alone), each with the same settings as the CPU runs
of the model cards but a larger batch, stops each run cleanly (checkpoint, resumable) when the
time is up, and leaves in ``$OUT`` at most 8 files: each stage's ``best.safetensors`` and one
``runs.tar.gz`` with every run's ``config.json`` and ``log.jsonl`` (the optimiser state in
``last.pt`` is larger than a returned file may be, so a GPU run is resumed from its weights,
not exactly). The device machine has PyTorch, NumPy, safetensors, matplotlib and tqdm; miditok
(for the velocity bins) and its needs travel as wheels.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
#: the wheels the training code needs that the device image lacks (exact versions as here)
WHEELS = ("miditok==3.1.0", "symusic==0.6.0", "platformdirs", "pySmartDL")
STAGES = {
    # the model-card sizes; batch 64 instead of 16 (the GPU has room, the CPU had not)
    "chord": dict(d_model=128, n_layers=3, n_heads=4, d_ff=512, seq_len=256),
    "melody": dict(d_model=192, n_layers=4, n_heads=4, d_ff=768, seq_len=512),
    "accompaniment": dict(d_model=128, n_layers=4, n_heads=4, d_ff=512, seq_len=512),
}


def pack(data: Path, out: Path, wheels: Path) -> None:
    """Compressed copies of the prepared train/valid arrays, and the wheels, for ``carry``."""
    target = out / "pop909"
    if target.exists():
        shutil.rmtree(target)
    for split in ("train", "valid"):
        (target / split).mkdir(parents=True)
        for npz in sorted((data / split).glob("*.npz")):
            with np.load(npz) as arrays:
                np.savez_compressed(target / split / npz.name, **dict(arrays))
    shutil.copy(data / "manifest.json", target / "manifest.json")
    wheels.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.12", "--implementation", "cp",
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux2014_x86_64", "-d", str(wheels), *WHEELS,
        ],
        check=True,
    )  # fmt: skip
    size = sum(p.stat().st_size for p in [*target.rglob("*"), *wheels.glob("*")] if p.is_file())
    print(f"packed {target} and {wheels}: {size / 2**20:.1f} MiB to carry")


def run(data: Path, minutes: float, steps: int, batch: int, out: Path, device: str) -> int:
    """Train the three stages concurrently on the GPU; copy weights and logs to ``out``."""
    runs = Path("/tmp/v2m-runs")
    procs = {}
    for stage in STAGES:
        cmd = [
            sys.executable, __file__, "stage", stage, "--data", str(data),
            "--out", str(runs / stage), "--minutes", str(minutes), "--steps", str(steps),
            "--batch-size", str(batch), "--device", device,
        ]  # fmt: skip
        log = open(runs.parent / f"v2m-{stage}.out", "w")  # noqa: SIM115 - lives with the process
        procs[stage] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        print(" ".join(cmd), flush=True)
    start = time.monotonic()
    status = {stage: p.wait() for stage, p in procs.items()}
    print(f"trained in {time.monotonic() - start:.0f} s: {status}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for stage in STAGES:
            for name in ("config.json", "log.jsonl"):
                if (runs / stage / name).is_file():
                    tar.add(runs / stage / name, arcname=f"{stage}/{name}")
            tar.add(runs.parent / f"v2m-{stage}.out", arcname=f"{stage}/stdout.txt")
            if (runs / stage / "best.safetensors").is_file():
                shutil.copy(runs / stage / "best.safetensors", out / f"{stage}.safetensors")
    return max(status.values())


def train_stage(
    stage: str, data: Path, out: Path, minutes: float, steps: int, batch: int, device: str
) -> None:
    """One stage's run on the GPU, through the library (the CLI would import the video code)."""
    from symbolic_v2m.model import ModelConfig
    from symbolic_v2m.training import TrainConfig, train

    sizes = dict(STAGES[stage])
    seq_len = sizes.pop("seq_len")
    config = TrainConfig(
        stage=stage,
        data_dir=str(data),
        out_dir=str(out),
        # the shipped models' frame: pitches in the key's frame, rotary positions
        model=ModelConfig(stage=stage, dropout=0.1, key_relative=True, rotary=True, **sizes),
        seq_len=seq_len,
        batch_size=batch,
        lr=6e-4,
        warmup_steps=100,
        epochs=max(1, steps // min(100, steps)),
        steps_per_epoch=min(100, steps),
        seed=0,
        device=device,
        checkpoint_minutes=1.0,
        max_minutes=minutes,
    )
    result = train(config)
    print(f"{stage}: step {result.get('step')}, valid {result.get('valid', {}).get('loss')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="here: prepare what the device call carries")
    p.add_argument("--data", type=Path, default=HERE / "data/pop909")
    p.add_argument("--out", type=Path, default=HERE / ".gpu")
    p.add_argument("--wheels", type=Path, default=HERE / ".whl")
    r = sub.add_parser("run", help="on the device: train, then fill $OUT")
    r.add_argument("--data", type=Path, default=Path(".gpu/pop909"))
    r.add_argument("--minutes", type=float, default=7.0, help="stop each run after this long")
    r.add_argument("--steps", type=int, default=6000, help="the schedule's length per stage")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    r.add_argument("--device", default="cuda", help="cpu: a dry run of the whole flow")
    t = sub.add_parser("stage", help="on the device: one stage's run (used by run)")
    t.add_argument("stage", choices=sorted(STAGES))
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--minutes", type=float, required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--batch-size", type=int, required=True)
    t.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.command == "stage":
        sys.path.insert(0, str(HERE))
        train_stage(
            args.stage, args.data, args.out, args.minutes, args.steps, args.batch_size, args.device
        )
        return
    if args.command == "pack":
        pack(args.data, args.out, args.wheels)
    else:
        raise SystemExit(
            run(args.data, args.minutes, args.steps, args.batch_size, args.out, args.device)
        )


if __name__ == "__main__":
    main()
