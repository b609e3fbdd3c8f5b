"""One streaming pass over a video -> :class:`VideoFeatures`.

    >>> features = analyze_video(Path("clip.mp4"))                 # doctest: +SKIP
    >>> features.info.duration, len(features.cuts), features.visual_tempo
    (24.02, 4, 112.5)

Each decoded frame (analysis size, about 320x180) goes once through: the cut detector (every
frame), colour statistics on a thumbnail (every frame), and optical flow (every frame up to
``max_rate`` frames per second). Only per-frame numbers are kept, and a dozen small frames for
the timeline picture (:attr:`VideoFeatures.pictures`), so memory stays flat however long the
video is.

Damaged and truncated files: ffmpeg skips frames it cannot decode, and the rest keep their true
timestamps, so when most of a video decodes it is analysed with a warning; when less than half of
it does (by frames or by time), it is refused with a :class:`VideoError` (see
:func:`_check_decode`). A video of one frame is analysed (no flow, no cuts, one shot); it lasts
as long as the container shows that frame (a still with a 2 s duration lasts 2 s), and
composing for it makes a single bar cut to that length.
"""

from __future__ import annotations

import logging
import math
from array import array
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from symbolic_v2m.errors import ConfigError, VideoError
from symbolic_v2m.video.colour import ColourTracker
from symbolic_v2m.video.cuts import CutConfig, CutTracker
from symbolic_v2m.video.decode import (
    DEFAULT_ANALYSIS_AREA,
    FrameStream,
    ProgressCallback,
    analysis_size,
)
from symbolic_v2m.video.features import (
    PICTURE_HEIGHT,
    Cut,
    VideoFeatures,
    VideoInfo,
    picture_times,
)
from symbolic_v2m.video.motion import (
    FLASH_GAIN,
    MotionTracker,
    find_visual_beats,
    visual_tempo,
)
from symbolic_v2m.video.probe import PLAUSIBLE_FPS, VideoMeta, probe_video
from symbolic_v2m.video.scenes import SCENE_THRESHOLD, LookTracker, group_scenes

log = logging.getLogger(__name__)

THUMB_WIDTH = 64  # pixels; colour statistics and cut strength are measured at this size
# Less than this fraction of a damaged video decoded (by frames or by time): refuse it, since an
# analysis of the remains would describe a different video.
MIN_DECODED_FRACTION = 0.5
# Frames that end this much earlier than the stream's declared duration mean lost frames at the
# end (a truncated file), even when ffmpeg said nothing.
COMPLETE_FRACTION = 0.95


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of :func:`analyze_video`; the defaults suit any ordinary video.

    Attributes:
        area: pixels per analysed frame (320x180 for 16:9); aspect ratio is kept.
        max_rate: at most this many frames per second go through optical flow.
        fast_decode: skip the codec's deblocking filter (see ``decode``): faster, but cut
            verdicts on borderline transitions drift from PySceneDetect's own.
        fps: override the frame rate (frames are then timed ``index / fps``), for files whose
            timing metadata is wrong.
        min_beat_gap: visual beats closer than this (seconds) count as one.
        cuts: the cut detector's settings.
        scene_threshold: shots at least this alike (0..1) show the same scene
            (:mod:`.scenes`); above 1, every shot is a scene of its own.
    """

    area: int = DEFAULT_ANALYSIS_AREA
    max_rate: float = 30.0
    fast_decode: bool = False
    fps: Fraction | None = None
    min_beat_gap: float = 0.1
    cuts: CutConfig = field(default_factory=CutConfig)
    scene_threshold: float = SCENE_THRESHOLD

    def __post_init__(self) -> None:
        if not 32 * 32 <= self.area <= 1920 * 1080:
            raise ConfigError(f"analysis area must be 1024-2073600 pixels (received {self.area})")
        if not 1.0 <= self.max_rate <= 240.0:
            raise ConfigError(f"max_rate must be 1-240 frames/s (received {self.max_rate})")
        if self.fps is not None and not PLAUSIBLE_FPS[0] <= self.fps <= PLAUSIBLE_FPS[1]:
            raise ConfigError(f"fps must be 1-240 (received {float(self.fps):g})")
        if not 0.0 < self.min_beat_gap <= 2.0:
            raise ConfigError(f"min_beat_gap must be in (0, 2] s (received {self.min_beat_gap})")
        if not 0.0 <= self.scene_threshold:
            raise ConfigError(f"scene threshold must be >= 0 (received {self.scene_threshold})")

    def to_dict(self) -> dict:
        """JSON-friendly settings, recorded in the features for reproducibility."""
        data = asdict(self)
        data["fps"] = None if self.fps is None else str(self.fps)
        return data


def analyze_video(
    path: Path | str,
    config: AnalysisConfig | None = None,
    progress: ProgressCallback | None = None,
) -> VideoFeatures:
    """Analyse a video's rhythm, cuts and colour in one streaming pass.

    Args:
        path: any video file ffmpeg can decode.
        config: analysis settings (defaults if None).
        progress: called with (seconds done, total seconds) as frames are analysed.

    Raises:
        InputError: the path is missing, a directory, or unreadable; ffmpeg is not installed.
        VideoError: the file is not a video, has no video stream, or has no frames.
    """
    config = config or AnalysisConfig()
    path = Path(path)
    meta = probe_video(path)
    size = analysis_size(*meta.display_size, area=config.area)
    nominal_fps = config.fps or meta.fps or Fraction(25)
    thumb_size = (THUMB_WIDTH, max(8, round(THUMB_WIDTH * size[1] / size[0])))

    times: array[float] = array("d")
    colour = ColourTracker()
    looks = LookTracker()
    cuts = CutTracker(config.cuts, nominal_fps, times, colour.brightness)
    motion = MotionTracker(size)
    min_step = 1.0 / config.max_rate - 1e-4
    last_motion = -math.inf
    total = meta.duration or 0.0
    next_report = 0.0
    # the timeline picture's frames, at the times the container's duration gives (checked
    # against the decoded duration at the end)
    wanted = list(picture_times(meta.duration)) if meta.duration else []
    picture_size = (2 * round(PICTURE_HEIGHT * size[0] / size[1] / 2), PICTURE_HEIGHT)
    pictures: list[tuple[float, np.ndarray]] = []

    with FrameStream(meta, size, fast=config.fast_decode, fps_override=config.fps) as frames:
        for frame in frames:
            gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)  # (H, W)
            thumb = cv2.resize(frame.image, thumb_size, interpolation=cv2.INTER_AREA)
            times.append(frame.time)
            # the exact integer sum over the count: numpy's mean, bit for bit, at a tenth the cost
            colour.update(thumb, cv2.sumElems(gray)[0] / gray.size / 255.0)
            looks.update(frame.index, frame.time, thumb)
            cuts.update(frame, thumb)
            if frame.time - last_motion >= min_step:
                motion.update(frame.index, frame.time, gray)
                last_motion = frame.time
            if len(pictures) < len(wanted) and frame.time >= wanted[len(pictures)]:
                picture = cv2.resize(frame.image, picture_size, interpolation=cv2.INTER_AREA)
                pictures.append((frame.time, cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)))
            if progress is not None and frame.time >= next_report:
                progress(frame.time, max(total, frame.time))
                next_report = frame.time + 0.5

    frame_count = len(times)

    # Frame intervals tell the true rate and whether it varies.
    intervals = np.diff(np.frombuffer(times, dtype=np.float64))
    median_interval = float(np.median(intervals)) if intervals.size else 0.0
    if config.fps is not None:
        fps, fps_source = config.fps, "override"
    elif meta.fps is not None:
        fps, fps_source = meta.fps, "container"
    elif median_interval > 0:
        fps = Fraction(1 / median_interval).limit_denominator(1001)
        fps_source = "timestamps"
    else:
        fps, fps_source = Fraction(25), "default"
    variable = bool(intervals.size) and float(np.max(np.abs(intervals - median_interval))) > max(
        0.25 * median_interval, 1e-3
    )
    if frame_count == 1:
        # A single frame is shown for the stream's whole duration (a still turned into a video);
        # with no duration known, for one nominal frame.
        end_time = meta.stream_duration or meta.duration or 1.0 / float(fps)
    else:
        end_time = times[-1] + (median_interval or 1.0 / float(fps))
    _check_decode(meta, frame_count, end_time, median_interval, frames)
    found_cuts = cuts.finish()

    sample_frames = np.frombuffer(motion.frames, dtype=np.int64)
    sample_times = np.frombuffer(motion.times, dtype=np.float64)
    speed = np.frombuffer(motion.speed, dtype=np.float64).copy()
    saliency = np.frombuffer(motion.saliency, dtype=np.float64).copy()
    _mask_cuts(found_cuts, sample_frames, speed, saliency)

    # Flashes move no pixels; add brightness onsets so they count as accents too.
    luma = np.frombuffer(colour.brightness, dtype=np.float64)[sample_frames]
    onsets = np.maximum(np.diff(luma, prepend=luma[:1]), 0.0)
    for cut in found_cuts:
        onsets[(sample_frames >= cut.frame - 1) & (sample_frames <= cut.frame + 1)] = 0.0
    impact = saliency + FLASH_GAIN * onsets
    beats = find_visual_beats(sample_times, sample_frames, impact, config.min_beat_gap)
    tempo, confidence = visual_tempo(sample_times, impact)
    shots = colour.shots(times, end_time, found_cuts, sample_frames, speed)
    scenes = group_scenes(looks.shot_looks(shots), config.scene_threshold)
    shots = tuple(replace(shot, scene=g) for shot, g in zip(shots, scenes, strict=True))

    width, height = meta.display_size
    info = VideoInfo(
        path=str(path),
        width=width,
        height=height,
        rotation=meta.rotation,
        codec=meta.codec,
        fps=fps,
        fps_source=fps_source,
        duration=round(end_time, 6),
        frame_count=frame_count,
        analysis_width=size[0],
        analysis_height=size[1],
        variable_frame_rate=variable,
    )
    return VideoFeatures(
        info=info,
        times=tuple(round(t, 6) for t in sample_times.tolist()),
        flow_speed=tuple(round(s, 6) for s in speed.tolist()),
        saliency=tuple(round(s, 6) for s in saliency.tolist()),
        beats=beats,
        visual_tempo=tempo,
        tempo_confidence=confidence,
        cuts=found_cuts,
        shots=shots,
        analysis=config.to_dict(),
        pictures=_pictures_at(pictures, picture_times(info.duration), info.duration),
    )


def _pictures_at(
    kept: list[tuple[float, np.ndarray]], wanted: tuple[float, ...], duration: float
) -> tuple[np.ndarray, ...]:
    """The kept frames if each lies within a tenth of a picture's span of its wanted time, else
    none (then the timeline picture seeks for its frames itself). The times were chosen while
    decoding from the container's duration, which can differ from the decoded one by a few
    frames (a clip cut by stream copy) or by far more (a damaged file)."""
    tolerance = 0.1 * duration / max(len(wanted), 1)
    if len(kept) != len(wanted):
        return ()
    if any(abs(time - target) > tolerance for (time, _), target in zip(kept, wanted, strict=True)):
        return ()
    return tuple(picture for _, picture in kept)


def _check_decode(
    meta: VideoMeta, decoded: int, end_time: float, median_interval: float, stream: FrameStream
) -> None:
    """Warn about frames lost to damage or truncation; refuse a video of which less than
    ``MIN_DECODED_FRACTION`` decoded.

    Two measures, each used only where it is reliable: the time covered, against the stream's
    declared duration (robust to variable frame rate and to edit lists, which make the
    container's frame count overstate what plays); and, when ffmpeg reported damage, the frames
    decoded against the declared duration divided by the median frame interval (frames lost in
    the middle leave gaps in the timestamps, not a shorter video).

    Raises:
        VideoError: less than half of the video could be decoded.
    """
    path = meta.path
    damaged = stream.damage > 0 or bool(stream.returncode)
    reason = stream.first_damage or (
        f"ffmpeg exited with status {stream.returncode}" if stream.returncode else ""
    )
    declared = meta.stream_duration
    coverage = min(1.0, end_time / declared) if declared else 1.0
    expected = None
    if damaged and declared and median_interval > 0:
        expected = max(decoded, round(declared / median_interval))
    fraction = min(coverage, decoded / expected if expected else 1.0)
    detail = f" ({reason})" if reason else ""
    if fraction < MIN_DECODED_FRACTION:
        if coverage < MIN_DECODED_FRACTION:
            what = f"{end_time:.2f} s of its {declared:.2f} s"
        else:
            what = f"{decoded} of about {expected} frames"
        raise VideoError(
            f"{path}: only {what} could be decoded{detail}: the file is truncated or corrupt; "
            "re-export or re-download it"
        )
    if expected and decoded < expected:
        log.warning(
            "%s: %d of about %d frames could not be decoded and were skipped%s; the rest are "
            "analysed at their true times", path, expected - decoded, expected, detail,
        )  # fmt: skip
    elif coverage < COMPLETE_FRACTION:
        log.warning(
            "%s: frames stop at %.2f s of the %.2f s the file declares%s (truncated?); "
            "analysing what is there", path, end_time, declared, detail,
        )  # fmt: skip
    elif damaged:
        # No declared duration (a raw stream): the loss cannot be measured, and such a stream has
        # no timestamps of its own, so frames after the damage come early.
        timing = "" if declared else "; a raw stream has no timestamps, so later times may be early"
        log.warning(
            "%s: damaged data, frames that could not be decoded were skipped%s%s",
            path, detail, timing,
        )  # fmt: skip


def _mask_cuts(
    cuts: tuple[Cut, ...], sample_frames: np.ndarray, speed: np.ndarray, saliency: np.ndarray
) -> None:
    """Flow between the two sides of a cut measures nothing real: hold the previous speed there
    and silence the saliency of the two samples the bogus flow touches (in place)."""
    for cut in cuts:
        if cut.kind != "cut":
            continue
        i = int(np.searchsorted(sample_frames, cut.frame))
        if i >= speed.size:
            continue
        speed[i] = speed[i - 1] if i > 0 else (speed[i + 1] if i + 1 < speed.size else 0.0)
        saliency[i : i + 2] = 0.0
