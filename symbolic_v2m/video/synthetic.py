"""Synthetic videos with known ground truth: cut times, motion speeds, accents.

The test suite, the benchmarks and ``make demo`` build their clips with this module, so nothing
has to be downloaded. Each shot is a random colour texture translated at a known speed; hard cuts
switch to a different texture, *reversals* turn the motion round in one frame (a visual beat in
Davis and Agrawala's sense: a sudden deceleration), and *flashes* brighten one frame.

    >>> clip = write_synthetic_clip(Path("demo.mp4"), DEMO_SHOTS)   # doctest: +SKIP
    >>> clip.cut_times
    (4.0, 8.0, 12.0, 16.0)

Run as a script to write the demo clip: ``python -m symbolic_v2m.video.synthetic OUT.mp4``.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class SyntheticShot:
    """One shot of a synthetic clip.

    Attributes:
        duration: length in seconds.
        speed: texture motion in frame diagonals per second (the unit of ``VideoFeatures``).
        direction: direction of motion in degrees (0 = rightwards, 90 = downwards).
        reversals: times (seconds from the shot's start) at which the motion turns round.
        flashes: times (seconds from the shot's start) of one-frame bright flashes.
        seed: chooses the texture and its colours.
        brightness: overall gain applied to the texture (1 = unchanged).
        fade_in: seconds of fade from black at the start of the shot.
        fade_out: seconds of fade to black at the end of the shot.
    """

    duration: float
    speed: float = 0.0
    direction: float = 0.0
    reversals: tuple[float, ...] = ()
    flashes: tuple[float, ...] = ()
    seed: int = 0
    brightness: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0


@dataclass(frozen=True)
class SyntheticClip:
    """Ground truth of a written clip. Frame numbers are 0-based, times in seconds."""

    path: Path
    size: tuple[int, int]
    fps: Fraction
    frame_count: int
    cut_frames: tuple[int, ...]
    accent_frames: tuple[int, ...]
    shots: tuple[SyntheticShot, ...]

    @property
    def cut_times(self) -> tuple[float, ...]:
        """Cut times in seconds."""
        return tuple(f / float(self.fps) for f in self.cut_frames)

    @property
    def scenes(self) -> tuple[int, ...]:
        """The true scene group of each shot: shots with one seed show one texture (a place),
        numbered in order of first appearance, as :func:`~.scenes.group_scenes` numbers them."""
        first: dict[int, int] = {}
        return tuple(first.setdefault(s.seed, len(first)) for s in self.shots)

    @property
    def accent_times(self) -> tuple[float, ...]:
        """Times of reversals and flashes in seconds."""
        return tuple(f / float(self.fps) for f in self.accent_frames)


# A 20-second demo: still, slow, medium and fast shots, one with a regular 2 Hz bounce (a visual
# tempo of 120 BPM) and one with flashes.
DEMO_SHOTS: tuple[SyntheticShot, ...] = (
    SyntheticShot(4.0, speed=0.0, seed=1, brightness=0.8),
    SyntheticShot(4.0, speed=0.08, direction=0, seed=2),
    SyntheticShot(
        4.0, speed=0.25, direction=90, seed=3, reversals=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
    ),
    SyntheticShot(4.0, speed=0.5, direction=200, seed=4, flashes=(1.0, 3.0)),
    SyntheticShot(4.0, speed=0.15, direction=45, seed=5, brightness=0.6),
)


#: The look of each scene of :func:`scene_layout`: (speed, direction) by letter; the seed is
#: the letter's index + SCENE_SEED, so the palettes differ scene to scene.
SCENE_MOTION = ((0.05, 0), (0.3, 90), (0.15, 180), (0.4, 45), (0.0, 270), (0.22, 135))
SCENE_SEED = 20


def scene_layout(
    letters: str, seconds: float | Sequence[float] = 4.0, seed: int = SCENE_SEED
) -> tuple[SyntheticShot, ...]:
    """Shots that show scenes in the order of ``letters`` ("ABAB", "A B C A"): every shot of
    one letter is the same picture moving the same way (a scene that returns), each letter
    another texture and motion. ``seconds`` is every shot's length, or one per shot."""
    names = [c for c in letters.upper() if not c.isspace()]
    lengths = [seconds] * len(names) if isinstance(seconds, int | float) else list(seconds)
    if len(lengths) != len(names):
        raise ValueError(f"{len(names)} shots but {len(lengths)} lengths")
    shots = []
    for name, length in zip(names, lengths, strict=True):
        k = ord(name) - ord("A")
        speed, direction = SCENE_MOTION[k % len(SCENE_MOTION)]
        shots.append(SyntheticShot(length, speed=speed, direction=direction, seed=seed + k))
    return tuple(shots)


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A colourful, smooth-but-detailed random texture, (H, W, 3) uint8 BGR.

    Noise at several scales gives optical flow something to track at every resolution; the seed
    also picks the palette, so different shots differ in colour as real shots do.
    """
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width), np.float32)
    for sigma, gain in ((1.5, 0.3), (4.0, 0.35), (12.0, 0.35)):
        noise = rng.standard_normal((height, width)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        field += gain * noise / (noise.std() + 1e-6)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)  # (H, W) in [0, 1]
    # Hues a golden-ratio step apart, so consecutive seeds give clearly different shots.
    hue = (seed * 0.618034) % 1.0
    dark = _hsv_to_bgr(hue, 0.7, 0.2)
    light = _hsv_to_bgr((hue + 0.08) % 1.0, 0.45, 0.95)
    image = dark[None, None, :] + field[..., None] * (light - dark)[None, None, :]  # (H, W, 3)
    return image.astype(np.uint8)


def _hsv_to_bgr(hue: float, saturation: float, value: float) -> np.ndarray:
    """(3,) float BGR in 0..255 from hue, saturation, value in 0..1."""
    pixel = np.array([[[hue * 360.0, saturation, value]]], np.float32)  # float HSV: H in degrees
    return cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0] * 255.0


def _positions(shot: SyntheticShot, frames: int, fps: float, diagonal: float) -> np.ndarray:
    """(N, 2) top-left offsets of the viewing window for each frame of the shot, in pixels."""
    step = shot.speed * diagonal / fps  # pixels per frame
    angle = math.radians(shot.direction)
    velocity = np.array([math.cos(angle), math.sin(angle)]) * step
    turns = {round(t * fps) for t in shot.reversals}
    offsets = np.zeros((frames, 2))
    sign = 1.0
    for i in range(1, frames):
        if i in turns:
            sign = -sign
        offsets[i] = offsets[i - 1] + sign * velocity
    return offsets


def render_frames(
    shots: Sequence[SyntheticShot], size: tuple[int, int] = (640, 360), fps: Fraction = Fraction(30)
) -> Iterator[np.ndarray]:
    """Yield the clip's frames, (H, W, 3) uint8 BGR, one shot at a time (bounded memory)."""
    width, height = size
    diagonal = math.hypot(width, height)
    for shot in shots:
        frames = round(shot.duration * float(fps))
        offsets = _positions(shot, frames, float(fps), diagonal)
        low, high = offsets.min(axis=0), offsets.max(axis=0)
        margin = 4
        canvas = texture(
            int(math.ceil(high[1] - low[1])) + height + 2 * margin,
            int(math.ceil(high[0] - low[0])) + width + 2 * margin,
            shot.seed,
        )
        if shot.brightness != 1.0:
            canvas = np.clip(canvas.astype(np.float32) * shot.brightness, 0, 255).astype(np.uint8)
        flashes = {round(t * float(fps)) for t in shot.flashes}
        for i in range(frames):
            x, y = offsets[i] - low + margin
            centre = (x + (width - 1) / 2.0, y + (height - 1) / 2.0)
            frame = cv2.getRectSubPix(canvas, (width, height), centre)  # sub-pixel crop
            if i in flashes:
                frame = cv2.addWeighted(frame, 0.3, np.full_like(frame, 255), 0.7, 0)
            gain = min(
                1.0,
                (i + 1) / (shot.fade_in * float(fps)) if shot.fade_in else 1.0,
                (frames - i) / (shot.fade_out * float(fps)) if shot.fade_out else 1.0,
            )
            if gain < 1.0:
                frame = cv2.convertScaleAbs(frame, alpha=gain)
            yield frame


def write_synthetic_clip(
    path: Path,
    shots: Sequence[SyntheticShot],
    size: tuple[int, int] = (640, 360),
    fps: Fraction = Fraction(30),
    *,
    extra_args: Sequence[str] = (),
) -> SyntheticClip:
    """Encode ``shots`` to ``path`` (H.264 via ffmpeg; OpenCV's mp4v when ffmpeg is absent).

    ``extra_args`` are added to ffmpeg's output options (e.g. ``["-metadata:s:v", "rotate=90"]``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    frames = render_frames(shots, size, fps)
    ffmpeg = shutil.which("ffmpeg")
    count = 0
    if ffmpeg:
        cmd = [
            ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
            "-s", f"{width}x{height}", "-r", f"{fps.numerator}/{fps.denominator}", "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            *extra_args, str(path),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)  # noqa: S603
        assert proc.stdin is not None
        try:
            for frame in frames:
                proc.stdin.write(frame.tobytes())
                count += 1
        finally:
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to encode {path}")
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        for frame in frames:
            writer.write(frame)
            count += 1
        writer.release()

    cut_frames, accent_frames, start = [], [], 0
    for shot in shots:
        if start:
            cut_frames.append(start)
        accent_frames += [start + round(t * float(fps)) for t in (*shot.reversals, *shot.flashes)]
        start += round(shot.duration * float(fps))
    return SyntheticClip(
        path=path,
        size=size,
        fps=fps,
        frame_count=count,
        cut_frames=tuple(cut_frames),
        accent_frames=tuple(sorted(accent_frames)),
        shots=tuple(shots),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the demo clip to the path given on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m symbolic_v2m.video.synthetic OUT.mp4", file=sys.stderr)
        return 2
    clip = write_synthetic_clip(Path(args[0]), DEMO_SHOTS)
    print(f"wrote {clip.path}: {clip.frame_count} frames, cuts at {clip.cut_times} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
