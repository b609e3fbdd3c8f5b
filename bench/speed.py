"""Every speed benchmark in one run, so that the figures share the machine's load.

    python bench/speed.py [--long-minutes 10] [--device cpu|cuda] [--quick]

Runs, one after another, each as its own process (fresh memory figures, no shared caches):

- ``bench/analyze_speed.py``: analysis / decode-only ratio, real-time factor, peak memory;
- ``bench/generation_speed.py``: tokens/s with and without the KV cache at 1k / 4k / 8k tokens,
  and a 3-minute piece's accompaniment;
- ``bench/export_speed.py``: the MIDI, MusicXML and PNG writers of a 3-minute piece, each alone;
- ``bench/compose_speed.py --defaults`` and ``--all``: a 3-minute clip to compose's default
  outputs (MIDI, MusicXML, PNG, project, WAV, MP4), then to every output (those and the stems),
  time per phase (analysis, generation per stage, export, render).

``--quick`` shortens each (1 repeat, a 3-minute long input, 1k / 4k tokens) for a smoke run.
Paste the printed sections into ``bench/RESULTS.md`` with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> float:
    """Run one benchmark script, streaming its output; returns its wall time."""
    print(f"\n### {script} {' '.join(args)}\n", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-minutes", type=int, default=10)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(
        f"# speed benchmarks, {datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.python_version()}"
    )
    device = ["--device", args.device] if args.device else []
    times = {
        "analysis": run(
            "analyze_speed.py",
            "--long-minutes",
            "3" if args.quick else str(args.long_minutes),
            "--repeats",
            "1" if args.quick else "2",
        ),
        "generation": run(
            "generation_speed.py",
            *device,
            "--weights",
            str(HERE.parent / "symbolic_v2m" / "weights" / "accompaniment.safetensors"),
            *(["--lengths", "1024,4096"] if args.quick else []),
        ),
        "export": run("export_speed.py", "--repeats", "1" if args.quick else "3"),
        "compose": run("compose_speed.py", "--defaults", *device),
        "compose, stems too": run("compose_speed.py", "--all", *device),
    }
    print("\n| benchmark | wall s |\n|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
