"""Compose speed: a 3-minute 720p clip to MIDI + project file, time split by phase.

    python bench/compose_speed.py [--minutes 3] [--device cpu|cuda] [--candidates 2]
                                  [--all | --defaults] [--seed 0] [--out DIR]

The clip is ``../shared/videos/testvideo.mp4`` looped by stream copy (as bench/analyze_speed.py
does) or, without ../shared, a synthetic clip. By default the outputs are MIDI + project file;
``--defaults`` writes what ``compose`` writes unless told otherwise (MIDI, MusicXML, PNG,
project, WAV, MP4: issue 15's "every output" when it was filed), ``--all`` every output there
is (those and the stems).
``--out`` keeps the outputs there (to compare two versions' bytes with ``cmp``); by default
they are thrown away.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from symbolic_v2m.compose import DEFAULT_OUTPUTS, OUTPUTS, ComposeConfig, compose

HERE = Path(__file__).resolve().parents[1]
SOURCE = HERE.parent / "shared" / "videos" / "testvideo.mp4"


def make_clip(minutes: float, folder: Path) -> Path:
    """A ``minutes``-long 720p H.264 clip (testvideo.mp4 looped, stream copy)."""
    out = folder / f"clip_{minutes:g}min.mp4"
    if SOURCE.is_file():
        loops = int(minutes * 60 / 24) + 1
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(SOURCE),
             "-t", str(minutes * 60), "-c", "copy", str(out)],
            check=True,
        )  # fmt: skip
    else:
        from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

        n = int(minutes * 60 / 5)
        shots = [SyntheticShot(5.0, speed=0.05 * (i % 5), seed=i) for i in range(n)]
        write_synthetic_clip(out, shots, size=(1280, 720))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--candidates", type=int, default=2)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every output, the stems included")
    which.add_argument("--defaults", action="store_true", help="compose's default outputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep the outputs in this new folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(args.minutes, Path(tmp))
        outputs = OUTPUTS if args.all else DEFAULT_OUTPUTS if args.defaults else ("midi", "project")
        config = ComposeConfig(
            device=args.device, candidates=args.candidates, outputs=outputs, seed=args.seed
        )
        started = time.perf_counter()
        result = compose(clip, args.out or Path(tmp) / "out", config)
        total = time.perf_counter() - started
    duration = result.timeline.duration
    print(
        f"{platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"device {args.device or ('cuda' if torch.cuda.is_available() else 'cpu')}"
    )
    print(
        f"clip {duration:.0f} s, {len(result.timeline.meters)} bars, outputs "
        f"{','.join(outputs)}, candidates {args.candidates}"
    )
    print("| phase | seconds |")
    print("|---|---|")
    for phase, seconds in result.timings.items():
        print(f"| {phase} | {seconds:.1f} |")
    generation = sum(v for k, v in result.timings.items() if k.startswith("generate"))
    print(f"| generation (3 stages) | {generation:.1f} |")
    print(f"| **total** | {total:.1f} ({duration / total:.2f}x real time) |")


if __name__ == "__main__":
    main()
