"""Time `dataset prepare` on all of POP909 (every song, three stages), from scratch.

    python bench/prepare_speed.py [--pop909 ../shared/datasets/pop909] [--workers N]

Prints the wall time, the songs per second and the quantisation figures over the kept songs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from symbolic_v2m.data import Pop909, PrepareConfig, default_split_path, load_split, prepare_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--pop909", type=Path, default=here.parent / "shared/datasets/pop909")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = prepare_corpus(
            Pop909(args.pop909),
            load_split(default_split_path("pop909")),
            Path(out),
            PrepareConfig(workers=args.workers),
            force=True,
        )
        wall = time.perf_counter() - started
        report = json.loads((Path(out) / "quantisation.json").read_text())
    kept = {k: v for k, v in report["songs"].items() if k not in result.excluded}
    notes = sum(v["notes"] for v in kept.values())
    print(f"cores {os.cpu_count()}, workers {args.workers}")
    print(
        f"prepared {sum(result.songs.values())} songs ({len(report['songs'])} read, "
        f"{len(result.excluded)} excluded, {len(result.skipped)} skipped) in {wall:.1f} s "
        f"= {len(report['songs']) / wall:.0f} songs/s"
    )
    print(
        "all songs : onsets moved > 1/32 note "
        f"{report['overall']['moved_32nd_share']:.2%}, > 1/64 note "
        f"{report['overall']['moved_64th_share']:.2%}"
    )
    print(
        f"kept songs: onsets moved > 1/64 note "
        f"{sum(v['moved_64th'] for v in kept.values()) / notes:.2%} of {notes:,} notes"
    )


if __name__ == "__main__":
    main()
