"""Read a video's metadata with ffprobe and turn every way it can be unusable into a clear error.

    >>> meta = probe_video(Path("clip.mp4"))   # doctest: +SKIP
    >>> meta.display_size, meta.fps
    ((1280, 720), Fraction(30000, 1001))

ffprobe is used (not OpenCV's ``VideoCapture`` properties) because it tells *why* a file cannot
be used (no video stream, not a media file at all) and reports rotation and pixel aspect ratio,
which OpenCV hides.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from symbolic_v2m.errors import InputError, VideoError

# Frame rates outside this range are treated as missing metadata (e.g. Matroska files that
# report their 1 kHz time base as a frame rate, or 0/0 from raw streams).
PLAUSIBLE_FPS = (Fraction(1), Fraction(240))


@dataclass(frozen=True)
class VideoMeta:
    """Container metadata of the first video stream, before decoding."""

    path: Path
    codec: str
    coded_width: int
    coded_height: int
    rotation: int  # degrees clockwise the picture must be turned for display: 0, 90, 180, 270
    sample_aspect: Fraction  # pixel aspect ratio (1 for square pixels)
    fps: Fraction | None  # None when missing or implausible
    duration: float | None
    frame_count: int | None  # the container's count; may be absent or wrong
    # The video stream's own duration where the container records one (MP4, MOV, MPEG-TS; not
    # Matroska or raw streams). Unlike ``duration`` it never falls back to the format's, which
    # may be a longer audio track's, so decoding can be checked against it for truncation.
    stream_duration: float | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as a player shows the picture (pixel aspect and rotation applied)."""
        width = max(1, round(self.coded_width * self.sample_aspect))
        height = self.coded_height
        if self.rotation in (90, 270):
            width, height = height, width
        return width, height


def require_tool(name: str) -> str:
    """Return the path of an ffmpeg-suite executable or raise a user-facing error saying how to
    install it."""
    path = shutil.which(name)
    if path is None:
        raise InputError(
            f"{name} not found on PATH: install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg; "
            "macOS: brew install ffmpeg)"
        )
    return path


def check_input_path(path: Path) -> None:
    """Raise :class:`InputError` when ``path`` is missing, a directory, or unreadable."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror or err})") from err
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: is an empty file, not a video")


def _parse_rate(text: str | None) -> Fraction | None:
    if not text:
        return None
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    if not PLAUSIBLE_FPS[0] <= rate <= PLAUSIBLE_FPS[1]:
        return None
    return rate


def _rotation(stream: dict) -> int:
    """Display rotation in degrees clockwise, from the display-matrix side data (or the legacy
    ``rotate`` tag). ffprobe reports the matrix angle counter-clockwise, hence the sign flip."""
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(-float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    if tag is not None:
        try:
            return int(round(float(tag))) % 360
        except ValueError:
            return 0
    return 0


def probe_video(path: Path) -> VideoMeta:
    """Describe the first video stream of ``path``.

    Raises:
        InputError: the path is missing, a directory or unreadable, or ffprobe is not installed.
        VideoError: the file is not a media file, or it has no video stream.
    """
    check_input_path(path)
    ffprobe = require_tool("ffprobe")
    cmd = [
        ffprobe, "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    if proc.returncode != 0:
        raise VideoError(f"{path}: not a readable video file ({_probe_failure(path, proc)})")
    try:
        info = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as err:
        raise VideoError(f"{path}: ffprobe returned unreadable metadata ({err})") from err

    streams = info.get("streams", [])
    video = [
        s for s in streams
        if s.get("codec_type") == "video"
        # Cover art in audio files is a one-picture "video" stream; it is not a video.
        and not (s.get("disposition") or {}).get("attached_pic")
    ]  # fmt: skip
    if not video:
        kinds = sorted({s.get("codec_type", "unknown") for s in streams})
        if "audio" in kinds:
            raise VideoError(f"{path}: has no video stream (it is an audio-only file)")
        if not streams:
            raise VideoError(f"{path}: not a video file (no media streams found)")
        raise VideoError(f"{path}: has no video stream (streams found: {', '.join(kinds)})")

    stream = video[0]
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise VideoError(f"{path}: the video stream has no picture size (corrupt header?)")

    fps = _parse_rate(stream.get("avg_frame_rate")) or _parse_rate(stream.get("r_frame_rate"))
    stream_duration = _float_or_none(stream.get("duration"))
    duration = stream_duration or _float_or_none((info.get("format") or {}).get("duration"))
    frames = stream.get("nb_frames")
    sar = _parse_aspect(stream.get("sample_aspect_ratio"))
    return VideoMeta(
        path=path,
        codec=str(stream.get("codec_name", "unknown")),
        coded_width=width,
        coded_height=height,
        rotation=_rotation(stream),
        sample_aspect=sar,
        fps=fps,
        duration=duration,
        frame_count=int(frames) if frames and str(frames).isdigit() else None,
        stream_duration=stream_duration,
    )


# ffprobe's own last line is often generic ("Invalid data found when processing input") where an
# earlier line names the actual problem; these say it in the user's terms.
_PROBE_REASONS = (
    ("moov atom not found", "its MP4 index, the moov atom, is missing: the file is truncated "
     "or its recording was never finished; re-export or re-download it"),
    ("End of file", "the file ends before its header does: truncated?"),
)  # fmt: skip


def _probe_failure(path: Path, proc: subprocess.CompletedProcess[str]) -> str:
    """Why ffprobe could not read ``path``, in one short phrase."""
    if "moov atom not found" in proc.stderr and not _looks_like_iso_media(path):
        # ffprobe picks its demuxer by the name: a text file called .mp4 also lacks a moov atom
        return "its content is not video data (is it really a video file?)"
    for needle, reason in _PROBE_REASONS:
        if needle in proc.stderr:
            return reason
    reason = _last_line(proc.stderr) or f"ffprobe exited with status {proc.returncode}"
    if reason.startswith(str(path)):
        reason = reason[len(str(path)) :].lstrip(": ")
    return reason


def _looks_like_iso_media(path: Path) -> bool:
    """True if the file starts like an MP4/MOV (an ISO media box: size, then a known type)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _parse_aspect(text: str | None) -> Fraction:
    if not text or ":" not in text:
        return Fraction(1)
    num, _, den = text.partition(":")
    try:
        value = Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    # 0:1 means "unknown"; absurd ratios are metadata errors, not real pixels.
    return value if Fraction(1, 4) <= value <= 4 else Fraction(1)


def _float_or_none(value: object) -> float | None:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if result > 0 and result == result else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
