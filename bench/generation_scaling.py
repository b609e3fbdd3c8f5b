"""Generation against length: the three stages for 3- and 30-minute clips, analysed once.

    python bench/generation_scaling.py [--minutes 3,30] [--repeats 2] [--features DIR]
                                       [--seed 0] [--out DIR]

Each clip (bench/compose_speed.py's: testvideo.mp4 looped, or a synthetic clip without
../shared) is analysed once and its features kept in ``--features`` (pickled, reused by later
runs, so that two versions of the code can be timed on the same features); then ``compose``
writes the MIDI file from those features ``--repeats`` times, in a fresh process each time,
and the stages' times are printed with the longest clip's time over the shortest's (the child
runs in the features folder, so that ``PYTHONPATH`` picks the code: another version's checkout
can be timed with this script). Linear
generation gives a ratio near the ratio of lengths (10 for 3 and 30 minutes). ``--out`` keeps
each run's MIDI file (``DIR/MINUTESmin-RUN/``) to compare versions' bytes with ``cmp``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: run in a fresh process: compose with the pickled features, MIDI only; prints the timings
CHILD = """
import json, pickle, sys, time
from pathlib import Path
from symbolic_v2m.compose import ComposeConfig, compose
clip, features, out = (Path(a) for a in sys.argv[1:4])
result = compose(clip, out, ComposeConfig(outputs=("midi",), seed=int(sys.argv[4])), force=True,
                 features=pickle.loads(features.read_bytes()))
print(json.dumps({**result.timings, "bars": len(result.timeline.meters)}))
"""


def features_for(minutes: float, folder: Path) -> tuple[Path, Path]:
    """The clip and its pickled features (analysed once, then reused)."""
    sys.path.insert(0, str(HERE))
    from compose_speed import make_clip

    from symbolic_v2m.compose import ComposeConfig
    from symbolic_v2m.video import analyze_video

    clip = folder / f"clip_{minutes:g}min.mp4"
    if not clip.is_file():
        make_clip(minutes, folder)
    path = folder / f"clip_{minutes:g}min.features.pkl"
    if not path.is_file():
        path.write_bytes(pickle.dumps(analyze_video(clip, ComposeConfig().analysis)))
    return clip, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="3,30", help="clip lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--features", type=Path, help="keep clips and features here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep each run's MIDI file here")
    args = parser.parse_args()
    lengths = [float(m) for m in args.minutes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.features or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| minutes | bars | run | chord s | melody s | accompaniment s | generation s |")
        print("|---|---|---|---|---|---|---|")
        best: dict[float, float] = {}
        for minutes in lengths:
            clip, features = features_for(minutes, folder)
            for run in range(1, args.repeats + 1):
                out = (args.out or Path(tmp) / "out") / f"{minutes:g}min-{run}"
                child = subprocess.run(
                    [sys.executable, "-c", CHILD, str(clip), str(features), str(out),
                     str(args.seed)],
                    check=True, capture_output=True, text=True, cwd=folder,
                )  # fmt: skip
                t = json.loads(child.stdout.strip().splitlines()[-1])
                stages = [t[f"generate_{r}"] for r in ("chord", "melody", "accompaniment")]
                total = sum(stages)
                best[minutes] = min(best.get(minutes, total), total)
                print(
                    f"| {minutes:g} | {t['bars']} | {run} | "
                    + " | ".join(f"{s:.2f}" for s in stages)
                    + f" | {total:.2f} |"
                )
    shortest, longest = min(lengths), max(lengths)
    if longest > shortest:
        print(
            f"\nbest of runs: {longest:g} min / {shortest:g} min = "
            f"{best[longest] / best[shortest]:.1f}x for {longest / shortest:g}x the length"
        )


if __name__ == "__main__":
    main()
