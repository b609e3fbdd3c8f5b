"""Export speed: the score's files of a 3-minute composition, each writer timed alone.

    python bench/export_speed.py [--minutes 3] [--repeats 3] [--seed 1]

Composes ``bench/compose_speed.py``'s clip once (MIDI only), rebuilds the arrangement compose
wrote, then writes the MIDI file, the MusicXML score and the timeline PNG from it, in turn,
``--repeats`` times, and prints each writer's median and every run. These are the three files
of issue 15's export target (at most 2 s together for 3 minutes). In compose they are written
on the main thread while the audio renders beside it, so its export phase also carries that
contention; here each writer has a core to itself. Run with ``PYTHONPATH`` at another checkout
to compare two versions on one machine (the outputs' bytes are hashed so that the two can be
compared too).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compose_speed import make_clip  # noqa: E402

import symbolic_v2m.compose as compose_module  # noqa: E402
from symbolic_v2m.compose import ComposeConfig, compose  # noqa: E402
from symbolic_v2m.export import write_midi, write_musicxml, write_timeline_plot  # noqa: E402
from symbolic_v2m.video import analyze_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(args.minutes, folder)
        features = analyze_video(clip)
        config = ComposeConfig(outputs=("midi",), seed=args.seed)
        result = compose(clip, folder / "out", config, features=features)
        # the arrangement compose exported (private, but the benchmark must time the writers on
        # exactly what compose hands them)
        arrangement = compose_module._arrangement(result.score, result.timeline, config, clip.stem)
        writers: dict[str, Callable[[Path], object]] = {
            "MIDI": lambda path: write_midi(arrangement, path),
            "MusicXML": lambda path: write_musicxml(arrangement, path),
            "PNG": lambda path: write_timeline_plot(features, clip, path, arrangement),
        }
        suffixes = {"MIDI": ".mid", "MusicXML": ".musicxml", "PNG": ".png"}
        runs: dict[str, list[float]] = {name: [] for name in writers}
        digests: dict[str, str] = {}
        for _ in range(args.repeats):  # in turn, so that load drifts touch every writer alike
            for name, write in writers.items():
                path = folder / f"export{suffixes[name]}"
                started = time.perf_counter()
                write(path)
                runs[name].append(time.perf_counter() - started)
                digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    print(f"{platform.node()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(
        f"clip {result.timeline.duration:.0f} s, {len(result.timeline.meters)} bars, "
        f"{sum(len(t.notes) for t in arrangement.tracks)} notes, seed {args.seed}"
    )
    print("| file | median s | runs s | sha256 (first 12) |")
    print("|---|---|---|---|")
    for name, seconds in runs.items():
        shown = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"| {name} | {statistics.median(seconds):.2f} | {shown} | {digests[name]} |")
    total = sum(statistics.median(seconds) for seconds in runs.values())
    print(f"| **together** | **{total:.2f}** | | |")


if __name__ == "__main__":
    main()
