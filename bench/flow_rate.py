"""What optical flow on every other frame costs: speed accuracy, visual beats, analysis time.

    python bench/flow_rate.py [--rates 30,15] [--repeats 2]   # --repeats 0: no timing

1. Speed: one synthetic clip (640x360, 30 fps) of 2-second textured shots translating at known
   speeds, 0.25-16 analysis pixels a frame (320x180) in different directions. Each shot's mean
   measured ``flow_speed`` (its first 0.2 s left out: the cut) against the true speed.
2. Beats: the accent clip of the tests (a shot that reverses every 0.5 s from 1 s to 4.5 s, and
   a flash at 5.2 s): how many of the nine accents are found as visual beats within 2 frames
   (67 ms), the mean timing error, and beats found elsewhere.
3. Time: ``analyze_video`` on the 3-minute 720p clip of bench/analyze_speed.py (needs
   ../shared), the rates interleaved, one fresh process each.

``AnalysisConfig.max_rate`` sets the flow rate: 30 flows every frame of 30 fps video, 15 every
other frame.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from symbolic_v2m.video import AnalysisConfig, analyze_video
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

sys.path.insert(0, str(Path(__file__).parent))
from analyze_speed import SOURCE, make_clip  # noqa: E402

SIZE = (640, 360)
FPS = 30
PIXELS_PER_FRAME = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # at the 320x180 analysis size
ACCENTS = (*(1.0 + 0.5 * k for k in range(8)), 5.2)

CHILD = r"""
import json, sys, time
from pathlib import Path
from symbolic_v2m.video import AnalysisConfig, analyze_video
start = time.perf_counter()
analyze_video(Path(sys.argv[1]), AnalysisConfig(max_rate=float(sys.argv[2])))
print(json.dumps({"wall": time.perf_counter() - start}))
"""


def speed_errors(folder: Path, rate: float) -> list[tuple[float, float]]:
    """(true px/frame, measured / true) for each shot of the speed clip."""
    diagonal = math.hypot(320, 180)
    shots = [
        SyntheticShot(2.0, speed=px * FPS / diagonal, direction=30.0 + 40 * k, seed=10 + k)
        for k, px in enumerate(PIXELS_PER_FRAME)
    ]
    clip = folder / "speeds.mp4"
    if not clip.exists():
        write_synthetic_clip(clip, shots, SIZE, Fraction(FPS))
    features = analyze_video(clip, AnalysisConfig(max_rate=rate))
    times, speed = np.array(features.times), np.array(features.flow_speed)
    rows = []
    for k, shot in enumerate(shots):
        inside = (times >= 2.0 * k + 0.2) & (times < 2.0 * (k + 1))
        rows.append((PIXELS_PER_FRAME[k], float(speed[inside].mean()) / shot.speed))
    return rows


def beat_hits(folder: Path, rate: float) -> tuple[int, float, int]:
    """Accents found within 2 frames, their mean timing error (ms), and other beats."""
    clip = folder / "accents.mp4"
    if not clip.exists():
        shot = SyntheticShot(
            6.0, speed=0.2, direction=30.0, seed=5, reversals=ACCENTS[:-1], flashes=(5.2,)
        )
        write_synthetic_clip(clip, [shot], SIZE, Fraction(FPS))
    beats = [b.time for b in analyze_video(clip, AnalysisConfig(max_rate=rate)).beats]
    errors = [min((abs(b - a) for b in beats), default=math.inf) for a in ACCENTS]
    hits = [e for e in errors if e <= 2 / FPS + 1e-6]
    others = sum(1 for b in beats if min(abs(b - a) for a in ACCENTS) > 2 / FPS + 1e-6)
    return len(hits), 1000 * statistics.mean(hits) if hits else math.nan, others


def analysis_time(clip: Path, rate: float) -> float:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(clip), str(rate)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])["wall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="30,15")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("| true px/frame | " + " | ".join(f"measured/true at {r:g}/s" for r in rates) + " |")
        print("|---|" + "---|" * len(rates))
        table = {r: speed_errors(folder, r) for r in rates}
        for i, px in enumerate(PIXELS_PER_FRAME):
            print(f"| {px:g} | " + " | ".join(f"{table[r][i][1]:.3f}" for r in rates) + " |")
        means = [statistics.mean(abs(v - 1) for _, v in table[r]) for r in rates]
        print("| mean abs error | " + " | ".join(f"{m:.3f}" for m in means) + " |")
        for r in rates:
            hits, error, others = beat_hits(folder, r)
            print(f"beats at {r:g}/s: {hits} of {len(ACCENTS)} accents within 2 frames, "
                  f"mean error {error:.1f} ms, {others} other beats")  # fmt: skip
        if SOURCE.exists() and args.repeats > 0:
            clip = make_clip(folder / "3min.mp4", 180)
            walls: dict[float, list[float]] = {r: [] for r in rates}
            for _ in range(args.repeats):
                for r in rates:
                    walls[r].append(analysis_time(clip, r))
            for r in rates:
                print(f"analysis of 3 min 720p at {r:g}/s: "
                      + ", ".join(f"{w:.1f}" for w in walls[r]) + " s")  # fmt: skip


if __name__ == "__main__":
    main()
