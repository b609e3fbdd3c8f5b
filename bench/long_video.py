"""A very long video, end to end: time per phase and peak memory stay bounded.

    python bench/long_video.py [--hours 2] [--out DIR]

The clip is a one-minute synthetic clip (320x180, 15 fps, six shots with hard cuts and motion
from still to fast) looped by stream copy to ``--hours``, so that making it costs nothing. It is
composed to MIDI + project file with the shipped models in a child process, whose peak RSS
(and its ffmpeg decoder's) is read from ``getrusage``; the phases' times come from compose's
own timings. Generation slides a window over the KV cache (``ModelConfig.max_context``), so its
memory does not grow with the piece.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from symbolic_v2m.compose import ComposeConfig, compose
started = time.perf_counter()
result = compose(Path(sys.argv[1]), Path(sys.argv[2]), ComposeConfig(outputs=("midi", "project")))
wall = time.perf_counter() - started
print(json.dumps({
    "wall": wall,
    "duration": result.timeline.duration,
    "bars": len(result.timeline.meters),
    "notes": len(result.score.melody) + len(result.score.accompaniment),
    "timings": result.timings,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def make_clip(folder: Path, hours: float) -> Path:
    speeds = (0.0, 0.05, 0.4, 0.15, 0.6, 0.02)
    shots = [SyntheticShot(10.0, speed=s, direction=40.0 * i, seed=i) for i, s in enumerate(speeds)]
    minute = write_synthetic_clip(folder / "minute.mp4", shots, size=(320, 180), fps=Fraction(15))
    out = folder / f"long_{hours:g}h.mp4"
    loops = int(hours * 60) + 1
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(minute.path),
         "-t", str(hours * 3600), "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--out", type=Path, help="keep the clip and the composition here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clip = make_clip(folder, args.hours)
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(clip), str(folder / "composed")],
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"## long video ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores)")
    print(f"command: python bench/long_video.py --hours {args.hours:g}")
    print(
        f"{figures['duration'] / 3600:.2f} h of video -> {figures['bars']} bars, "
        f"{figures['notes']} notes in {figures['wall']:.0f} s "
        f"({figures['duration'] / figures['wall']:.1f}x real time)"
    )
    print(
        f"peak RSS: python {figures['rss_mb']:.0f} MB, "
        f"largest child (ffmpeg) {figures['children_rss_mb']:.0f} MB"
    )
    print("| phase | seconds |\n|---|---|")
    for phase, seconds in figures["timings"].items():
        print(f"| {phase} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
