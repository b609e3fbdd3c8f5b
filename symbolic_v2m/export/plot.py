"""Timeline pictures: what the analysis saw, on one time axis.

    >>> write_analysis_plot(features, Path("clip.mp4"), Path("clip.timeline.png"))  # doctest: +SKIP

Rows: a strip of thumbnails, the flow-speed curve, and the motion-saliency envelope with the
visual beats; cuts are solid vertical lines through every row, fades dashed. With a composition
(:func:`write_timeline_plot`), bar lines run through every row too and a piano roll of every
track sits underneath, on the same time axis.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from symbolic_v2m.arrangement import HIT_MARKER, SECTION_MARKER, Arrangement
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.video.features import (
    PICTURE_HEIGHT,
    VideoFeatures,
    picture_times,
    scene_letter,
)
from symbolic_v2m.video.probe import require_tool

THUMB_WORKERS = 4


def grab_thumbnails(
    video: Path, times: list[float], height: int = PICTURE_HEIGHT
) -> list[np.ndarray]:
    """RGB thumbnails (h, w, 3) of ``video`` at ``times`` (seconds); a frame that cannot be
    read is a black thumbnail.

    One short ffmpeg call per thumbnail: an input-side seek decodes only from the nearest key
    frame, so this costs a fraction of a second however long the video is. The calls run
    :data:`THUMB_WORKERS` at a time (each mostly waits on its process's start and seek).
    """
    ffmpeg = require_tool("ffmpeg")

    def grab(time: float) -> np.ndarray:
        cmd = [
            ffmpeg, "-nostdin", "-v", "error", "-ss", f"{max(time, 0.0):.3f}", "-i", str(video),
            "-frames:v", "1", "-vf", f"scale=-2:{height}",
            "-f", "image2pipe", "-vcodec", "ppm", "-",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, check=False)  # noqa: S603
        image = _parse_ppm(proc.stdout) if proc.returncode == 0 else None
        return image if image is not None else np.zeros((height, height * 16 // 9, 3), np.uint8)

    with ThreadPoolExecutor(THUMB_WORKERS, thread_name_prefix="v2m-thumbnail") as pool:
        return list(pool.map(grab, times))


def _parse_ppm(data: bytes) -> np.ndarray | None:
    """Decode a binary PPM (P6, 8-bit) into (h, w, 3) uint8 RGB."""
    parts = data.split(maxsplit=4)
    if len(parts) < 5 or parts[0] != b"P6":
        return None
    width, height = int(parts[1]), int(parts[2])
    pixels = np.frombuffer(parts[4][: width * height * 3], np.uint8)
    if pixels.size != width * height * 3:
        return None
    return pixels.reshape(height, width, 3)


def write_analysis_plot(features: VideoFeatures, video: Path, out: Path) -> Path:
    """Draw the analysis timeline of ``features`` to ``out`` (PNG), atomically."""
    return write_timeline_plot(features, video, out)


TRACK_COLOURS = ("tab:orange", "tab:blue", "tab:brown", "tab:purple", "tab:gray", "tab:olive")


def write_timeline_plot(
    features: VideoFeatures, video: Path, out: Path, arrangement: Arrangement | None = None
) -> Path:
    """Draw the analysis rows and, with ``arrangement``, its bar lines and piano roll (PNG)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; chosen here, not at import time
    import matplotlib.pyplot as plt

    duration = features.info.duration
    centres = list(picture_times(duration))
    edges = np.linspace(0.0, duration, len(centres) + 1)
    # the analysis keeps these frames as it decodes; features read from a project file have none
    thumbs = list(features.pictures) or grab_thumbnails(video, centres)

    times = np.asarray(features.times)
    rows = 4 if arrangement is not None else 3
    ratios = [1.1, 1, 1] + ([2.2] if arrangement is not None else [])
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(14, 6.5 + 3.5 * (rows - 3)),
        sharex=True,
        gridspec_kw={"height_ratios": ratios},
    )
    ax_img, ax_speed, ax_sal = axes[:3]
    for thumb, left, right in zip(thumbs, edges[:-1], edges[1:], strict=True):
        ax_img.imshow(thumb, extent=(left, right, 0, 1), aspect="auto")
    ax_img.set_ylim(0, 1)
    ax_img.set_yticks([])
    if features.shots and all(shot.scene >= 0 for shot in features.shots):
        for shot in features.shots:  # the scene letter of each shot (A B A C ...)
            ax_img.text(
                shot.start + 0.05,
                0.06,
                scene_letter(shot.scene),
                color="white",
                fontsize=11,
                fontweight="bold",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5, "lw": 0},
            )
    title = (
        f"{Path(features.info.path).name}: {duration:.1f} s, {float(features.info.fps):.3g} fps, "
        f"{len(features.hard_cuts)} cuts"
    )
    if features.visual_tempo:
        title += f", visual tempo {features.visual_tempo:.0f} BPM"
    ax_img.set_title(title, loc="left")

    ax_speed.plot(times, features.flow_speed, color="tab:blue", lw=1)
    ax_speed.set_ylabel("flow speed\n(diag/s)")
    ax_speed.set_ylim(bottom=0)

    ax_sal.plot(times, features.saliency, color="tab:green", lw=1, label="saliency")
    if features.beats:
        peak = max(features.saliency) if any(features.saliency) else 1.0
        beat_t = [b.time for b in features.beats]
        beat_h = [b.weight * peak for b in features.beats]
        ax_sal.vlines(beat_t, 0, beat_h, color="black", lw=1.2)
        ax_sal.plot(beat_t, beat_h, "v", color="black", ms=5, label="visual beats")
        ax_sal.legend(loc="upper right", fontsize=8)
    ax_sal.set_ylabel("motion saliency\n(diag/s)")
    ax_sal.set_ylim(bottom=0)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, duration)

    if arrangement is not None:
        _piano_roll(axes[3], arrangement)
        for marker in arrangement.markers:  # the form letters at the sections' starts
            letter, _, rest = marker.text.partition(" — ")
            if rest.startswith(SECTION_MARKER):
                at = arrangement.score.seconds(marker.tick)
                axes[3].text(
                    at,
                    96,
                    letter,
                    fontsize=12,
                    fontweight="bold",
                    va="top",
                    bbox={"facecolor": "white", "edgecolor": "black", "pad": 2},
                )
        score = arrangement.score
        bar_lines = [score.seconds(bar.start) for bar in score.bars()]
        for axis in axes:
            _full_height_lines(axis, bar_lines, color="0.6", lw=0.5, zorder=0)
    for kind, style in (("cut", "-"), ("fade", "--")):
        at = [cut.time for cut in features.cuts if cut.kind == kind]
        for axis in axes:
            _full_height_lines(axis, at, color="tab:red", ls=style, lw=1.5, alpha=0.9)
    if arrangement is not None:  # hit points: where the music accents, on its grid
        hits = [m for m in arrangement.markers if m.text.startswith(HIT_MARKER)]
        at = [arrangement.score.seconds(marker.tick) for marker in hits]
        for axis in axes[1:]:
            _full_height_lines(axis, at, color="darkorange", ls=":", lw=1.6)
        for time in at:
            ax_img.plot(time, 0.92, "v", color="darkorange", ms=11, mec="black", clip_on=False)
    fig.tight_layout()
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out


def _full_height_lines(axis, times: list[float], **style: object) -> None:  # noqa: ANN001
    """Vertical lines through the whole height of ``axis`` at ``times``: one collection, not a
    line object each (an hour's bar lines, four rows, were thousands of artists to draw)."""
    if times:
        axis.vlines(times, 0, 1, transform=axis.get_xaxis_transform(), **style)


def _piano_roll(axis, arrangement: Arrangement) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Notes as horizontal bars at their pitch, one colour per track (drums as dots)."""
    score = arrangement.score
    for i, track in enumerate(arrangement.tracks):
        colour = TRACK_COLOURS[i % len(TRACK_COLOURS)]
        if not track.notes:
            continue
        starts = np.array([score.seconds(n.onset) for n in track.notes])
        ends = np.array([score.seconds(n.offset) for n in track.notes])
        pitches = np.array([n.pitch for n in track.notes], dtype=float)
        if track.is_drum:
            axis.plot(starts, np.full(len(starts), 20.0), "|", color=colour, ms=8, label=track.name)
            continue
        axis.hlines(pitches, starts, ends, color=colour, lw=2.2, label=track.name)
    axis.set_ylabel("pitch (MIDI)")
    axis.set_ylim(16, 100)
    axis.legend(loc="upper right", fontsize=8, ncol=len(arrangement.tracks))
