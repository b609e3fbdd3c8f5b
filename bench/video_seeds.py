"""Video fit over many seeds: one seed moves a short clip's figures more than most changes do.

    python bench/video_seeds.py [--seeds 0:5] [--clips varied,ramps,...] [--previous-sampling]
                                [--scale-lock-penalty P] [--work DIR] [--json FILE]

Composes ``bench/quality.py``'s clips (the synthetic ``varied`` and ``ramps`` and the clips in
``../shared/videos``; ``--clips`` picks some by name) with each seed (MIDI + project file), each
clip analysed once (features kept in ``--work``), and judges every file as
``quality.video_part`` does: cut-on-beat recall, density-speed correlation, strong visual beats
met, control adherence, and the whole file's scale consistency and pitch-class entropy. Prints
per clip the mean over seeds, the lowest scale consistency and highest pitch-class entropy,
and how many files lie within the issue's bounds (scale consistency >= 0.95, pitch-class
entropy <= 2.90). ``--previous-sampling`` composes with the sampling used before 2026-12-07's
sixth session (every family top-p 0.95, temperature 1) by replacing compose's
``SamplingConfig`` for the run (it is not a compose option). ``--scale-lock-penalty`` sets
compose's option of that name (the soft lock's strength) instead of its default.
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import SHARED, synthetic_clips  # noqa: E402

import symbolic_v2m.compose as compose_module  # noqa: E402
from symbolic_v2m.compose import ComposeConfig, compose  # noqa: E402
from symbolic_v2m.evaluation import EvaluateConfig, evaluate  # noqa: E402
from symbolic_v2m.model import SamplingConfig  # noqa: E402
from symbolic_v2m.video import analyze_video  # noqa: E402

SHOWN = ("cut_beat_recall", "density_speed_spearman", "strong_visual_beats_met")
BOUNDS = {"scale_consistency": 0.95, "pitch_class_entropy": 2.90}


def mean(values: list) -> float:
    kept = [v for v in values if v is not None and v == v]
    return float(np.mean(kept)) if kept else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0:5", help="FIRST:STOP")
    parser.add_argument("--clips", help="comma-separated clip names (default: all)")
    parser.add_argument("--previous-sampling", action="store_true")
    parser.add_argument(
        "--scale-lock-penalty", type=float, default=ComposeConfig.scale_lock_penalty
    )
    parser.add_argument("--work", type=Path, help="keep clips, features and files here")
    parser.add_argument("--json", type=Path, help="write every file's figures here")
    args = parser.parse_args()
    first, stop = (int(x) for x in args.seeds.split(":"))
    if args.previous_sampling:
        compose_module.SamplingConfig = functools.partial(SamplingConfig, temperature={}, top_p={})
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clips = synthetic_clips(work) + sorted((SHARED / "videos").glob("*.mp4"))
        if args.clips:
            clips = [c for c in clips if c.stem in args.clips.split(",")]
        rows = []
        for clip in clips:
            cached = work / f"{clip.stem}.features.pkl"
            if not cached.is_file():
                cached.write_bytes(pickle.dumps(analyze_video(clip, ComposeConfig().analysis)))
            features = pickle.loads(cached.read_bytes())
            for seed in range(first, stop):
                config = ComposeConfig(
                    outputs=("midi", "project"),
                    seed=seed,
                    scale_lock_penalty=args.scale_lock_penalty,
                )
                result = compose(clip, work / clip.stem, config, force=True, features=features)
                report = evaluate(
                    result.files["midi"],
                    EvaluateConfig(video=clip, project=result.files["project"]),
                )
                rows.append(
                    {"video": clip.name, "seed": seed, **report.video_fit, **report.adherence}
                    | {f"file_{k}": report.music[k] for k in BOUNDS}
                )
    print("| video | seeds | " + " | ".join(SHOWN) + " | scale consistency, mean (min) "
          "| pitch-class entropy, mean (max) | within bounds | adherence exact |")  # fmt: skip
    print("|---" * (len(SHOWN) + 6) + "|")
    for name in dict.fromkeys(r["video"] for r in rows):
        mine = [r for r in rows if r["video"] == name]
        sc = [r["file_scale_consistency"] for r in mine]
        pce = [r["file_pitch_class_entropy"] for r in mine]
        within = sum(s >= BOUNDS["scale_consistency"] and p <= BOUNDS["pitch_class_entropy"]
                     for s, p in zip(sc, pce, strict=True))  # fmt: skip
        exact = all(v == 1.0 for r in mine for k, v in r.items() if k.endswith("_exact"))
        print(
            f"| {name} | {len(mine)} | "
            + " | ".join(f"{mean([r.get(k) for r in mine]):.3f}" for k in SHOWN)
            + f" | {np.mean(sc):.3f} ({min(sc):.3f}) | {np.mean(pce):.3f} ({max(pce):.3f}) "
            f"| {within}/{len(mine)} | {exact} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
