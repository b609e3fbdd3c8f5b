"""How much the density-speed correlation moves from seed to seed, with and without the form:
is the change in bench/form.py's table larger than a seed's own spread?

    python bench/form_seeds.py [--seeds 0 1 2] [--clips "20 s, one shot" ...]

For each clip (bench/form.py's CLIPS) and seed: Spearman's rho between all pitched onsets per
beat in a bar and the bar's flow speed (evaluation/video_fit.py), before (``--form free``) and
after (the defaults); the mean and the range over seeds of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from form import CLIPS  # noqa: E402

from symbolic_v2m.compose import ComposeConfig, compose  # noqa: E402
from symbolic_v2m.evaluation.piece import read_piece  # noqa: E402
from symbolic_v2m.evaluation.video_fit import video_fit  # noqa: E402
from symbolic_v2m.video import analyze_video  # noqa: E402
from symbolic_v2m.video.synthetic import write_synthetic_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    args = parser.parse_args()
    print("| clip | rho before: mean (range) | after: mean (range) | after - before |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.clips:
            clip = write_synthetic_clip(Path(tmp) / "clip.mp4", CLIPS[name])
            features = analyze_video(clip.path)
            rho: dict[str, list[float]] = {"before": [], "after": []}
            for seed in args.seeds:
                base = ComposeConfig(outputs=("midi",), seed=seed)
                for key, config in (("before", replace(base, form=("free",))), ("after", base)):
                    result = compose(clip.path, Path(tmp) / key, config, force=True,
                                     features=features)  # fmt: skip
                    piece = read_piece(result.files["midi"])
                    rho[key].append(video_fit(piece, features)["density_speed_spearman"])
            b, a = np.array(rho["before"]), np.array(rho["after"])
            print(
                f"| {name} | {b.mean():.3f} ({b.min():.3f}-{b.max():.3f}) | "
                f"{a.mean():.3f} ({a.min():.3f}-{a.max():.3f}) | {a.mean() - b.mean():+.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
