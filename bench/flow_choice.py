"""Which OpenCV optical flow measures motion speed best per millisecond?

Renders textured shots translating at known speeds (symbolic_v2m.video.synthetic), downscales
them to the analysis size (320x180) as the analyser does, and compares each method's mean flow
magnitude with the true displacement, plus its time per frame pair.

    python bench/flow_choice.py
"""

from __future__ import annotations

import math
import platform
import time
from fractions import Fraction

import cv2
import numpy as np

from symbolic_v2m.video.synthetic import SyntheticShot, render_frames

SIZE = (640, 360)
ANALYSIS = (320, 180)
FPS = Fraction(30)
# True speeds in analysis pixels per frame.
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def methods() -> dict[str, callable]:
    def farneback(a, b):
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)

    def dis(preset):
        engine = cv2.DISOpticalFlow_create(preset)
        return lambda a, b: engine.calc(a, b, None)

    return {
        "farneback": farneback,
        "dis-ultrafast": dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST),
        "dis-fast": dis(cv2.DISOPTICAL_FLOW_PRESET_FAST),
        "dis-medium": dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    }


def main() -> None:
    scale = ANALYSIS[0] / SIZE[0]
    diag = math.hypot(*SIZE)
    rows = {name: [] for name in methods()}
    times = {name: [] for name in methods()}
    for k, speed_px in enumerate(SPEEDS):
        speed = speed_px / scale * float(FPS) / diag  # diag/s at clip resolution
        shot = SyntheticShot(2.0, speed=speed, direction=30.0 + 40 * k, seed=10 + k)
        frames = [
            cv2.cvtColor(cv2.resize(f, ANALYSIS, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            for f in render_frames([shot], SIZE, FPS)
        ]
        for name, fn in methods().items():
            mags = []
            t0 = time.perf_counter()
            for a, b in zip(frames[:-1], frames[1:], strict=True):
                flow = fn(a, b)
                mags.append(float(np.linalg.norm(flow, axis=2).mean()))
            times[name].append((time.perf_counter() - t0) / (len(frames) - 1) * 1000)
            rows[name].append(float(np.median(mags)))
    print(
        f"# flow choice, {platform.machine()}, OpenCV {cv2.__version__}, "
        f"{ANALYSIS[0]}x{ANALYSIS[1]}"
    )
    print(
        "| method | "
        + " | ".join(f"{s:g} px" for s in SPEEDS)
        + " | mean abs rel. error | ms/pair |"
    )
    print("|---|" + "---|" * (len(SPEEDS) + 2))
    for name in rows:
        est = np.array(rows[name])
        err = np.mean(np.abs(est - np.array(SPEEDS)) / np.array(SPEEDS))
        cells = " | ".join(f"{e:.2f}" for e in est)
        print(f"| {name} | {cells} | {err:.3f} | {np.median(times[name]):.2f} |")


if __name__ == "__main__":
    main()
