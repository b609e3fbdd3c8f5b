"""Hit points heard: the accent contrast at each hit point and at random moments, before/after.

    python bench/hit_points.py [--videos ../shared/videos] [--seed 1] [--json FILE]

For synthetic clips with flashes and sudden stops at known frames, and for every clip in
``--videos``, compose (shipped models, MIDI only) twice with the same seed: *before*, with hit
points off (``hit_threshold`` above 1 and no ``--hit``: the music as it was before hit points
existed) and *after*, with the defaults. The accent contrast
(:func:`symbolic_v2m.evaluation.video_fit.accent_contrast`: the summed velocity of the onset
group at a moment, every track, over the median group within 2 s around it) is taken at the
after-run's hit points in both pieces, and at 400 random moments of each piece that carry an
onset and lie more than 0.25 s from any hit point.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation.piece import read_piece
from symbolic_v2m.evaluation.video_fit import accent_contrast
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

HERE = Path(__file__).resolve().parents[1]


def synthetic_clips(folder: Path) -> list[Path]:
    """Flashes of several strengths (textures of several brightnesses) and sudden stops."""
    flashes = [
        SyntheticShot(10.0, speed=0.12, direction=30.0, seed=5, flashes=(6.0,)),
        SyntheticShot(10.0, speed=0.05, direction=140.0, seed=7, flashes=(4.0,), brightness=0.6),
        SyntheticShot(10.0, speed=0.25, direction=250.0, seed=9, flashes=(2.5,), brightness=1.2),
    ]
    stops = [
        SyntheticShot(8.0, speed=0.3, direction=10.0, seed=3, reversals=(2.0, 5.5)),
        SyntheticShot(8.0, speed=0.1, direction=200.0, seed=8, reversals=(3.0,), flashes=(6.0,)),
    ]
    return [
        write_synthetic_clip(folder / "flashes.mp4", flashes, fps=Fraction(30)).path,
        write_synthetic_clip(folder / "stops.mp4", stops, fps=Fraction(25)).path,
    ]


def measure(clip: Path, out: Path, seed: int) -> dict:
    """Contrast at the hit points and at random moments, with hit points off and on."""
    runs = {}
    default = ComposeConfig(outputs=("midi",), seed=seed)
    for name, config in (("before", replace(default, hit_threshold=1.1)), ("after", default)):
        result = compose(clip, out / name, config, force=True)
        runs[name] = (result, read_piece(result.files["midi"]))
    after = runs["after"][0].timeline
    moments = np.array([after.tempo.seconds(h.tick) for h in after.hits])
    rng = np.random.default_rng(seed)
    row: dict = {"video": clip.name, "hits": [round(h.time, 2) for h in after.hits]}
    for name, (result, piece) in runs.items():
        at_hits = accent_contrast(piece, moments) if len(moments) else np.zeros(0)
        draw = rng.uniform(0.5, result.timeline.duration - 0.5, 4000)
        if len(moments):
            draw = draw[np.abs(draw[:, None] - moments[None]).min(axis=1) > 0.25]
        random = accent_contrast(piece, draw)
        random = random[random > 0][:400]  # moments that carry an onset
        row[name] = {
            "at_hits": [round(float(c), 2) for c in at_hits],
            "random_mean": round(float(np.nanmean(random)), 3),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=HERE.parent / "shared" / "videos")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = synthetic_clips(Path(tmp))
        if args.videos.is_dir():
            clips += sorted(args.videos.glob("*.mp4"))
        for clip in clips:
            rows.append(measure(clip, Path(tmp) / clip.stem, args.seed))
    lines = [
        "| video | hit points (s) | contrast at hits, before | after | min after | "
        "random moments, before | after |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, a = r["before"], r["after"]
        lowest = f"{min(a['at_hits']):.2f}" if a["at_hits"] else "-"
        lines.append(
            f"| {r['video']} | {', '.join(f'{t:g}' for t in r['hits']) or '-'} | "
            f"{', '.join(f'{c:.2f}' for c in b['at_hits']) or '-'} | "
            f"{', '.join(f'{c:.2f}' for c in a['at_hits']) or '-'} | {lowest} | "
            f"{b['random_mean']:.3f} | {a['random_mean']:.3f} |"
        )
    print("\n".join(lines))
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
