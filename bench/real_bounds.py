"""How often real songs meet issue 13's whole-file tonality bounds (the yardstick for video).

    python bench/real_bounds.py [--split test] [--bars 12,32]

Each POP909 song of the split, its first ``--bars`` bars (``bench/quality.py``'s crop), melody
and accompaniment together: the share whose scale consistency is at least 0.95 and whose
pitch-class entropy is at most 2.90 (``bench/video_seeds.py``'s bounds), by mode too. A
composition for a short video is 8-20 bars long, so the first 12 bars are the nearer yardstick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import SHARED, crop  # noqa: E402
from video_seeds import BOUNDS  # noqa: E402

from symbolic_v2m.data import Pop909, default_split_path, load_split  # noqa: E402
from symbolic_v2m.errors import DataError  # noqa: E402
from symbolic_v2m.evaluation.music import pitch_class_entropy_of, scale_consistency_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--bars", default="12,32", help="comma-separated crop lengths")
    parser.add_argument("--pop909", type=Path, default=SHARED / "datasets" / "pop909")
    args = parser.parse_args()
    corpus = Pop909(args.pop909)
    ids = load_split(default_split_path("pop909"))[args.split]
    print("| first bars | songs | scale consistency, mean (min) | pitch-class entropy, mean (max) "
          "| within both bounds | major | minor |")  # fmt: skip
    print("|---" * 7 + "|")
    for bars in (int(b) for b in args.bars.split(",")):
        rows = []
        for song_id in ids:
            try:
                score = crop(corpus.load(song_id).score, bars)
            except DataError:
                continue
            pitches = [n.pitch for n in score.melody + score.accompaniment]
            rows.append(
                (scale_consistency_of(pitches), pitch_class_entropy_of(pitches), score.keys[0].mode)
            )
        sc = np.array([r[0] for r in rows])
        pce = np.array([r[1] for r in rows])
        within = (sc >= BOUNDS["scale_consistency"]) & (pce <= BOUNDS["pitch_class_entropy"])
        by_mode = []
        for mode in ("major", "minor"):
            mine = np.array([r[2] == mode for r in rows])
            by_mode.append(f"{within[mine].sum()}/{mine.sum()}")
        print(
            f"| {bars} | {len(rows)} | {sc.mean():.3f} ({sc.min():.3f}) | {pce.mean():.3f} "
            f"({pce.max():.3f}) | {within.sum()}/{len(rows)} ({within.mean():.2f}) | "
            + " | ".join(by_mode)
            + " |"
        )


if __name__ == "__main__":
    main()
