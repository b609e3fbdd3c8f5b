"""Streaming decode: frames at analysis size with their true timestamps, never the whole video.

    >>> meta = probe_video(Path("clip.mp4"))                     # doctest: +SKIP
    >>> size = analysis_size(*meta.display_size)                 # doctest: +SKIP
    >>> with FrameStream(meta, size) as frames:                  # doctest: +SKIP
    ...     for frame in frames:
    ...         frame.index, frame.time, frame.image.shape        # (H, W, 3) uint8 BGR
    (0, 0.0, (180, 320, 3))

Why an ffmpeg subprocess rather than ``cv2.VideoCapture``: measured on the 3-minute 720p H.264
benchmark clip (bench/RESULTS.md), VideoCapture decodes full-size frames at about 290 frame/s on
two cores, under the 10x-real-time target before any analysis. ffmpeg decodes in its own process
(so decoding overlaps our analysis on the other core), scales inside that process, honours
rotation metadata and pixel aspect ratio (``autorotate``, ``setsar``), and its ``showinfo``
filter reports each frame's presentation time, which variable-frame-rate video needs.

One decode feeds two sizes (ffmpeg's ``split``): area-averaged analysis frames (~320x180) for
optical flow and colour, and frames made the way PySceneDetect's own pipeline makes them for its
cut detectors (see :func:`detector_size`). ``fast=True`` skips the H.264/HEVC deblocking filter,
about 20% less decode time, but it shifts the detectors' scores on borderline transitions, so it
is off by default.

At most ``queue_frames`` decoded frames wait in memory per size; reader threads keep the pipes
drained so that ffmpeg never stalls while we analyse. Inside ffmpeg, each frame-decoding thread
holds full-size frames, so for huge frames (8K) the thread count is capped (see
:func:`decoder_threads`).

Damaged input: ffmpeg skips what it cannot decode and carries on, and the frames after the damage
keep their true timestamps. Its error lines (``-loglevel level+info`` tags each line with its
level) are counted as :attr:`FrameStream.damage`, so that the caller can warn, or refuse a file
of which too little decodes (``analyze._check_decode``).
"""

from __future__ import annotations

import io
import math
import os
import queue
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from symbolic_v2m.errors import VideoError
from symbolic_v2m.video.probe import VideoMeta, require_tool

DEFAULT_ANALYSIS_AREA = 320 * 180  # pixels; 320x180 for 16:9, similar detail for other shapes
MIN_SIDE = 32  # optical flow and the cut detector need some pixels on the short side
DETECTOR_LONGEST_SIDE = 256  # PySceneDetect's SceneManager default (DEFAULT_MIN_WIDTH)

# Frame-threaded decoding holds about two full-size frames per thread (measured on 8K H.264:
# ~100 MB a thread). Above this many bytes the thread count is capped; ffmpeg's automatic count
# (CPUs + 1, at most 16) would hold 1.6 GB of 8K frames on a 16-core machine.
DECODE_MEMORY_BUDGET = 512 * 1024 * 1024
MAX_AUTO_THREADS = 16  # libavcodec's cap on its automatic thread count

_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:(\S+)")
# "[h264 @ 0x55d0] [error] msg" or "[warning] msg": the level tag of -loglevel level+info.
_LEVEL = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ?")
# Errors that say nothing about the input's data: an output muxer's complaint about timestamps.
_NOT_DAMAGE = ("monotonic",)


@dataclass(frozen=True)
class Frame:
    """One decoded frame, at analysis size and at the cut detector's size."""

    index: int  # 0-based, in decode (= presentation) order
    time: float  # seconds since the first frame
    image: np.ndarray  # (H, W, 3) uint8 BGR, area-averaged to analysis size
    detector_image: np.ndarray  # (h, w, 3) uint8 BGR, as PySceneDetect would downscale it


def analysis_size(
    display_width: int, display_height: int, area: int = DEFAULT_ANALYSIS_AREA
) -> tuple[int, int]:
    """Even width and height with about ``area`` pixels and the display aspect ratio.

    A fixed pixel budget instead of a fixed width keeps portrait, square and ultra-wide video at
    the same level of detail; video smaller than the budget is not upscaled.
    """
    if display_width <= 0 or display_height <= 0:
        raise ValueError(
            f"display size must be positive (received {display_width}x{display_height})"
        )
    scale = min(1.0, math.sqrt(area / (display_width * display_height)))
    width = max(MIN_SIDE, 2 * round(display_width * scale / 2))
    height = max(MIN_SIDE, 2 * round(display_height * scale / 2))
    return width, height


def decoder_threads(coded_width: int, coded_height: int, cpus: int | None = None) -> int | None:
    """ffmpeg's ``-threads`` for decoding frames of this size: None (ffmpeg's automatic count)
    unless that many threads would hold more than ``DECODE_MEMORY_BUDGET`` of decoded frames.

    Only very large frames are affected: on 16 CPUs, 8K (7680x4320) gets 5 threads, 4K none.
    """
    frame_bytes = coded_width * coded_height * 3 // 2  # 8-bit 4:2:0
    auto = min((cpus or os.cpu_count() or 1) + 1, MAX_AUTO_THREADS)
    limit = max(1, DECODE_MEMORY_BUDGET // max(1, 2 * frame_bytes))
    return limit if limit < auto else None


def detector_size(display_width: int, display_height: int) -> tuple[int, int]:
    """The size PySceneDetect's ``SceneManager`` downscales frames to before its detectors see
    them: longest side 256 px (smaller video is left alone).

    Its detectors' default thresholds were tuned on frames made this way (nearest-pixel sampling
    of the full-resolution picture), and on borderline transitions such as fast fades a different
    resampling moves the verdict; so the detectors get frames made exactly this way.
    """
    longest = max(display_width, display_height)
    factor = longest / DETECTOR_LONGEST_SIDE if longest >= DETECTOR_LONGEST_SIDE else 1.0
    return max(1, round(display_width / factor)), max(1, round(display_height / factor))


class FrameStream:
    """Iterate over a video's frames, decoded once by an ffmpeg subprocess at two sizes.

    Use as a context manager so that the subprocess is always reaped. Frame times are the
    stream's presentation timestamps (shifted so the first frame is at 0), or ``index / fps``
    when ``fps_override`` is given or the stream has no timestamps.
    """

    def __init__(
        self,
        meta: VideoMeta,
        size: tuple[int, int],
        *,
        fast: bool = False,
        fps_override: Fraction | None = None,
        queue_frames: int = 8,
    ) -> None:
        self.meta = meta
        self.width, self.height = size
        self.detector_width, self.detector_height = detector_size(*meta.display_size)
        self.fast = fast
        self.fps_override = fps_override
        self.returncode: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._detector_pipe: io.BufferedReader | None = None
        self._frames: queue.Queue[tuple[bytes, float | None] | None] = queue.Queue(queue_frames)
        self._detector_frames: queue.Queue[bytes | None] = queue.Queue(queue_frames)
        self._pts: queue.Queue[float | None] = queue.Queue()
        self._messages: deque[str] = deque(maxlen=20)
        self.damage = 0  # error lines ffmpeg printed about the input (damaged or missing data)
        self.first_damage = ""  # the first of them, without ffmpeg's context prefix
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FrameStream:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def command(self, detector_fd: int) -> list[str]:
        """The ffmpeg command line; the detector's frames go to file descriptor ``detector_fd``."""
        ffmpeg = require_tool("ffmpeg")
        graph = (
            "[0:v:0]split=2[a][d];"
            # Analysis frames: square pixels, area averaging (keeps fine texture for the flow).
            # showinfo for each frame's timestamp; its per-frame checksums (about 1 s of CPU per
            # 3 minutes of 720p, measured) are not needed
            f"[a]scale={self.width}:{self.height}:flags=area,setsar=1,format=bgr24,"
            "showinfo=checksum=0[an];"
            # Detector frames: nearest-pixel sampling, as cv2.INTER_LINEAR does at these factors.
            f"[d]scale={self.detector_width}:{self.detector_height}:flags=neighbor,"
            "setsar=1,format=bgr24[det]"
        )
        cmd = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
        if self.fast:
            cmd += ["-skip_loop_filter", "all"]
        threads = decoder_threads(self.meta.coded_width, self.meta.coded_height)
        if threads is not None:
            cmd += ["-threads", str(threads)]
        cmd += ["-i", str(self.meta.path), "-filter_complex", graph]
        for label, target in (("[an]", "pipe:1"), ("[det]", f"pipe:{detector_fd}")):
            cmd += ["-map", label, "-fps_mode", "passthrough", "-f", "rawvideo", target]
        return cmd

    def start(self) -> None:
        """Start the decoder process and its pipe-reader threads."""
        if self._proc is not None:
            return
        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd, self.detector_width * self.detector_height * 3)
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.command(write_fd),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                # buffered: stderr is read line by line (an unbuffered pipe reads a line one
                # byte per system call: most of the decode pass's own CPU time, measured)
                bufsize=-1,
                # its own session: Ctrl-C in the terminal reaches only us, so a stop is our
                # clean shutdown (the context manager ends ffmpeg), never a decode error first
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        assert self._proc.stdout is not None
        _widen_pipe(self._proc.stdout.fileno(), self.width * self.height * 3)
        self._detector_pipe = os.fdopen(read_fd, "rb")
        self._threads = [
            threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True),
            threading.Thread(target=self._read_frames, name="ffmpeg-frames", daemon=True),
            threading.Thread(target=self._read_detector, name="ffmpeg-detector", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop decoding (if still running) and reap the subprocess."""
        self._stop.set()
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        for pending in (self._frames, self._detector_frames):  # unblock waiting readers
            while True:
                try:
                    pending.get_nowait()
                except queue.Empty:
                    break
        for thread in self._threads:
            thread.join(timeout=5)
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if self._detector_pipe is not None:
            self._detector_pipe.close()
            self._detector_pipe = None

    # -- reader threads --------------------------------------------------------------------------
    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            match = _SHOWINFO.search(line) if "showinfo" in line else None
            if match:
                try:
                    value: float | None = float(match.group(3))
                except ValueError:  # "NOPTS"
                    value = None
                self._pts.put(value if value is not None and math.isfinite(value) else None)
                continue
            level = _LEVEL.search(line)
            text = _LEVEL.sub("", line, count=1) if level else line
            if not text or text.startswith((" ", "[Parsed_showinfo")):
                continue  # continuation lines of stream descriptions and of showinfo
            text = text.removeprefix(f"{self.meta.path}: ")  # the user knows which file
            self._messages.append(text)
            if level and self._is_damage(level.group(1), text):
                self.damage += 1
                if not self.first_damage:
                    self.first_damage = _strip_context(text).rstrip(".")
        self._pts.put(None)  # end of stream: a reader waiting on a timestamp gets None

    def _read_frames(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        size = self.width * self.height * 3
        try:
            while not self._stop.is_set():
                data = _read_exact(self._proc.stdout.read, size)
                if data is None:
                    break
                try:
                    pts = self._pts.get(timeout=60)
                except queue.Empty:
                    pts = None
                _put(self._frames, (data, pts), self._stop)
        finally:
            _put(self._frames, None, self._stop)

    def _read_detector(self) -> None:
        assert self._detector_pipe is not None
        size = self.detector_width * self.detector_height * 3
        pipe = self._detector_pipe
        try:
            while not self._stop.is_set():
                data = _read_exact(pipe.read, size)
                if data is None:
                    break
                _put(self._detector_frames, data, self._stop)
        finally:
            _put(self._detector_frames, None, self._stop)

    # -- iteration -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        self.start()
        fps = self.fps_override
        first_pts: float | None = None
        last_time = -math.inf
        index = 0
        while True:
            item, detector = self._frames.get(), self._detector_frames.get()
            if item is None or detector is None:
                break
            data, pts = item
            if fps is not None:
                time = index / float(fps)
            elif pts is None:
                # No timestamp on this frame: continue from the last one at the nominal rate.
                time = last_time + 1.0 / float(self.meta.fps or 25) if index else 0.0
            else:
                if first_pts is None:
                    first_pts = pts
                time = pts - first_pts
            # Presentation order must be strictly increasing; repair duplicates from bad muxers.
            time = max(time, last_time + 1e-6) if index else max(time, 0.0)
            last_time = time
            yield Frame(
                index=index,
                time=round(time, 6),
                image=np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3),
                detector_image=np.frombuffer(detector, np.uint8).reshape(
                    self.detector_height, self.detector_width, 3
                ),
            )
            index += 1
        self._finish(index)

    def _finish(self, frames: int) -> None:
        assert self._proc is not None
        returncode = self._proc.wait()
        self.returncode = returncode
        if self._stop.is_set():
            return
        if frames == 0:
            # ffmpeg's own last words here are about its filter graph, not the file: say what
            # the user can act on.
            raise VideoError(
                f"{self.meta.path}: the video stream has no frames that can be decoded "
                "(truncated or empty file?)"
            )

    @staticmethod
    def _is_damage(level: str, text: str) -> bool:
        """Whether a logged line reports input ffmpeg could not read or decode: its errors, and
        its warnings about corrupt packets or frames."""
        if any(word in text for word in _NOT_DAMAGE):
            return False
        return level in ("panic", "fatal", "error") or (level == "warning" and "corrupt" in text)

    def error_message(self) -> str:
        """The most informative line ffmpeg printed (its last error, if any)."""
        lines = list(self._messages)
        for line in reversed(lines):
            if "rror" in line or "nvalid" in line or "corrupt" in line:
                return _strip_context(line)
        return _strip_context(lines[-1]) if lines else ""


def _put(target: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put into a bounded queue, giving up when the stream is being closed."""
    while not stop.is_set():
        try:
            target.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _widen_pipe(fd: int, frame_bytes: int) -> None:
    """Let a pipe hold two frames (up to the system's limit), so that ffmpeg writes and we read
    a frame in one system call instead of one per 64 KiB; best effort (Linux only)."""
    try:
        import fcntl  # not on Windows
    except ImportError:
        return
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if setter is None:
        return
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        limit = 1 << 20
    try:
        fcntl.fcntl(fd, setter, min(2 * frame_bytes, limit))
    except OSError:
        pass  # the default 64 KiB still works, with more system calls


def _strip_context(line: str) -> str:
    """``[h264 @ 0x55d0] error while decoding`` -> ``error while decoding``."""
    return re.sub(r"^\[[^\]]*\]\s*", "", line).strip()


def _read_exact(read: Callable[[int], bytes], size: int) -> bytes | None:
    """Read exactly ``size`` bytes, or None at end of stream (a partial tail is dropped)."""
    chunks = []
    remaining = size
    while remaining:
        chunk = read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


ProgressCallback = Callable[[float, float], None]
"""Called with (seconds analysed, total seconds) as analysis proceeds."""
