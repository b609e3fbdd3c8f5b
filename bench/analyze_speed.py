"""Analysis speed and memory on long 720p H.264 input built from ../shared/videos/testvideo.mp4.

    python bench/analyze_speed.py [--long-minutes 30] [--repeats 2]

Reports, in one run so that the machine's load affects both sides alike:
- analysis wall time / decode-only wall time (the same ffmpeg decode, frames read and dropped);
- the real-time factor (video duration / analysis wall time);
- peak memory (max RSS) of the analysing Python process and of its ffmpeg decoder, for a
  3-minute and a long input: each analysis runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "videos" / "testvideo.mp4"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from symbolic_v2m.video import analyze_video
from symbolic_v2m.video.decode import FrameStream, analysis_size
from symbolic_v2m.video.probe import probe_video
mode, path = sys.argv[1], Path(sys.argv[2])
start = time.perf_counter()
if mode == "decode":
    meta = probe_video(path)
    with FrameStream(meta, analysis_size(*meta.display_size)) as frames:
        count = sum(1 for _ in frames)
    duration = meta.duration
else:
    features = analyze_video(path)
    count, duration = features.info.frame_count, features.info.duration
wall = time.perf_counter() - start
self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "frames": count, "duration": duration,
                  "rss_mb": self_rss, "ffmpeg_rss_mb": child_rss}))
"""


def make_clip(out: Path, seconds: int) -> Path:
    """Loop the source clip (stream copy: no re-encode, still H.264 720p) to ``seconds``."""
    loops = seconds // 24 + 1
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(SOURCE),
         "-t", str(seconds), "-an", "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    return out


def measure(mode: str, path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long-minutes", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} not found: this benchmark needs ../shared/videos")
    with tempfile.TemporaryDirectory() as tmp:
        short = make_clip(Path(tmp) / "3min.mp4", 180)
        ratios, analyses, decodes = [], [], []
        for _ in range(args.repeats):  # interleaved, so load drifts hit both alike
            decode = measure("decode", short)
            analysis = measure("analyze", short)
            decodes.append(decode)
            analyses.append(analysis)
            ratios.append(analysis["wall"] / decode["wall"])
        long_clip = make_clip(Path(tmp) / "long.mp4", args.long_minutes * 60)
        long_analysis = measure("analyze", long_clip)

    a_wall = statistics.median(a["wall"] for a in analyses)
    d_wall = statistics.median(d["wall"] for d in decodes)
    print(
        f"## analyze_speed ({datetime.date.today()}, {platform.machine()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores)"
    )
    print(
        "command: python bench/analyze_speed.py "
        f"--long-minutes {args.long_minutes} --repeats {args.repeats}"
    )
    print(
        "| input | frames | decode-only s | analysis s | analysis/decode | real-time factor "
        "| peak RSS python MB | peak RSS ffmpeg MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    a0 = analyses[0]
    print(
        f"| 3 min 720p H.264 | {a0['frames']} | {d_wall:.1f} | {a_wall:.1f} | "
        f"{statistics.median(ratios):.2f} (runs: {', '.join(f'{r:.2f}' for r in ratios)}) | "
        f"{a0['duration'] / a_wall:.1f}x | {max(a['rss_mb'] for a in analyses):.0f} | "
        f"{max(a['ffmpeg_rss_mb'] for a in analyses):.0f} |"
    )
    la = long_analysis
    print(
        f"| {args.long_minutes} min 720p H.264 | {la['frames']} | - | {la['wall']:.1f} | - | "
        f"{la['duration'] / la['wall']:.1f}x | {la['rss_mb']:.0f} | {la['ffmpeg_rss_mb']:.0f} |"
    )


if __name__ == "__main__":
    main()
