"""Put the music on the video: ffmpeg copies the picture and encodes the WAV as AAC.

    >>> mux_audio(Path("clip.mp4"), Path("clip.wav"), Path("clip.music.mp4"))   # doctest: +SKIP

The video stream is copied, never re-encoded (no quality loss, and seconds instead of minutes),
and the output lasts exactly as long as the input video: music that runs longer is cut, music
that ends earlier leaves silence. With ``keep_audio`` the video's own sound stays under the
music, :data:`ORIGINAL_GAIN_DB` lower.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

from symbolic_v2m.errors import Cancelled, ExportError, MissingPartError
from symbolic_v2m.export.files import atomic_output

#: Level of the video's own sound under the music with ``keep_audio`` (dB).
ORIGINAL_GAIN_DB = -12.0

#: How often (seconds) a mux in a helper thread looks whether its run is ending.
_STOP_POLL = 0.1

#: AAC bit rate: transparent for music at 48 kHz stereo or mono.
AAC_BITRATE = "192k"

#: ffmpeg's AAC coder. "fast" rather than the default "twoloop": on a 3-minute soundtrack it
#: encodes in 0.9 s instead of 6.1 s (2 cores) for 40.0 dB instead of 43.7 dB signal-to-noise
#: against the WAV (bench/RESULTS.md, 2026-12-07). The MP4 is the preview to watch; the WAV,
#: the master, is untouched.
AAC_CODER = "fast"

_INSTALL_FFMPEG = (
    "install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"
)


def mux_audio(
    video: Path,
    wav: Path,
    out_path: Path,
    keep_audio: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Write ``out_path``: ``video``'s picture (copied) with ``wav`` as its AAC soundtrack.

    With ``keep_audio`` and a video that has sound, the original sound is mixed
    :data:`ORIGINAL_GAIN_DB` under the music; a video without sound just gets the music. The
    output is written to a temporary file beside ``out_path`` and renamed onto it, so a failed
    or interrupted run never leaves a partial file. A set ``stop`` (muxing in a helper thread
    of a run that is ending) kills ffmpeg at once.

    Raises:
        MissingPartError: ffmpeg or ffprobe is not installed.
        ExportError: ffprobe or ffmpeg failed (the message ends with ffmpeg's last line).
        Cancelled: ``stop`` was set.
    """
    ffmpeg, ffprobe = _tool("ffmpeg"), _tool("ffprobe")
    duration, has_audio = _probe(ffprobe, Path(video))

    command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(wav)]
    if keep_audio and has_audio:
        # normalize=0: amix would otherwise halve the music to make room for the quiet original
        mix = (
            f"[0:a:0]volume={ORIGINAL_GAIN_DB}dB[original];"
            "[1:a:0][original]amix=inputs=2:duration=longest:normalize=0,"
            "alimiter=limit=0.95:level=0:latency=1[mix]"  # the sum may pass full scale
        )
        command += ["-filter_complex", mix, "-map", "0:v:0", "-map", "[mix]"]
    else:
        command += ["-map", "0:v:0", "-map", "1:a:0"]
    command += ["-c:v", "copy", "-c:a", "aac", "-aac_coder", AAC_CODER, "-b:a", AAC_BITRATE]
    if duration is not None:  # None only for raw streams: then the longer of the two
        command += ["-t", f"{duration:.6f}"]  # the video's length, whatever the music's
    # -f mp4: the temporary name's suffix is out_path's, which need not say MP4
    command += ["-movflags", "+faststart", "-f", "mp4"]
    with atomic_output(Path(out_path)) as tmp:
        returncode, stderr = _run(command + [str(tmp)], stop)
        if returncode != 0:
            raise ExportError(f"{out_path}: ffmpeg failed: {_last_line(stderr)}")


def _run(command: list[str], stop: threading.Event | None) -> tuple[int, str]:
    """Run ``command``; its exit status and stderr. Killed (and reaped) if ``stop`` is set or
    anything interrupts the wait."""
    if stop is not None and stop.is_set():
        raise Cancelled("muxing stopped")
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            while True:
                try:
                    _, stderr = process.communicate(timeout=_STOP_POLL)
                    return process.returncode, stderr
                except subprocess.TimeoutExpired:
                    if stop is not None and stop.is_set():
                        raise Cancelled("muxing stopped") from None
        except BaseException:
            process.kill()
            process.wait()
            raise


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingPartError(f"{name} not found on PATH: {_INSTALL_FFMPEG}")
    return path


def _probe(ffprobe: str, video: Path) -> tuple[float | None, bool]:
    """The video's duration in seconds (None if unknown) and whether it has an audio stream."""
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_type",
         "-of", "json", str(video)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise ExportError(f"{video}: ffprobe failed: {_last_line(result.stderr)}")
    info = json.loads(result.stdout or "{}")
    kinds = [stream.get("codec_type") for stream in info.get("streams", [])]
    if "video" not in kinds:
        raise ExportError(f"{video}: no video stream to put the music on")
    try:
        duration: float | None = float(info["format"]["duration"])
    except (KeyError, TypeError, ValueError):
        duration = None
    return duration, "audio" in kinds


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
