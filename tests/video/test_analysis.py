"""Video analysis on synthetic clips with known cuts, speeds and accents."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

from symbolic_v2m.errors import ConfigError
from symbolic_v2m.export import plot
from symbolic_v2m.export.plot import grab_thumbnails
from symbolic_v2m.video import AnalysisConfig, CutConfig, VideoFeatures, analyze_video
from symbolic_v2m.video.analyze import _pictures_at
from symbolic_v2m.video.features import PICTURE_HEIGHT, picture_times
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

from ..conftest import SHOT_SPEEDS


@pytest.fixture(scope="module")
def speed_features(speed_clip):
    return analyze_video(speed_clip.path)


def test_every_hard_cut_found_within_one_frame(speed_clip, speed_features):
    found = [c.frame for c in speed_features.hard_cuts]
    assert len(found) == len(speed_clip.cut_frames)
    for truth, frame in zip(speed_clip.cut_frames, found, strict=True):
        assert abs(frame - truth) <= 1
    for truth, cut in zip(speed_clip.cut_times, speed_features.hard_cuts, strict=True):
        assert abs(cut.time - truth) <= 1 / 30 + 1e-6
        assert 0 < cut.strength <= 1


def test_no_false_cut_in_still_or_smoothly_moving_shot(pan_clip, speed_features):
    assert analyze_video(pan_clip.path).cuts == ()
    # Inside the speed clip's shots (still, slow, medium, fast) nothing but the three cuts.
    assert len(speed_features.cuts) == 3


def test_flow_speed_ranks_shots_and_is_proportional(speed_features):
    measured = [shot.mean_speed for shot in speed_features.shots]
    assert len(measured) == len(SHOT_SPEEDS)
    assert measured == sorted(measured)  # still < slow < medium < fast
    assert measured[0] < 0.005
    for truth, value in zip(SHOT_SPEEDS[1:], measured[1:], strict=True):
        assert value == pytest.approx(truth, rel=0.15)


def test_speed_unit_does_not_depend_on_analysis_size(speed_clip, speed_features):
    small = analyze_video(speed_clip.path, AnalysisConfig(area=160 * 90))
    for a, b in zip(speed_features.shots[1:], small.shots[1:], strict=True):
        assert b.mean_speed == pytest.approx(a.mean_speed, rel=0.15)


def test_accents_found_as_visual_beats_within_two_frames(accent_clip):
    features = analyze_video(accent_clip.path)
    beat_frames = np.array([b.frame for b in features.beats])
    for accent in accent_clip.accent_frames:
        assert np.min(np.abs(beat_frames - accent)) <= 2, f"no beat near frame {accent}"
    # ... and no more than a couple of extra beats in a smooth shot.
    assert len(features.beats) <= len(accent_clip.accent_frames) + 2
    assert all(0 < b.weight <= 1 for b in features.beats)


def test_regular_reversals_give_their_tempo(clips_dir):
    # A bounce every 0.5 s for 8 s is 120 BPM.
    shot = SyntheticShot(8.0, speed=0.2, seed=3, reversals=tuple(0.5 * k for k in range(1, 16)))
    clip = write_synthetic_clip(clips_dir / "bounce.mp4", [shot])
    features = analyze_video(clip.path)
    assert features.visual_tempo == pytest.approx(120.0, rel=0.03)
    assert features.tempo_confidence > 0.2


def test_still_video_has_no_beats_or_tempo(clips_dir):
    clip = write_synthetic_clip(clips_dir / "still.mp4", [SyntheticShot(3.0, seed=8)])
    features = analyze_video(clip.path)
    assert features.beats == ()
    assert features.visual_tempo is None
    assert max(features.flow_speed) < 0.005


def test_features_json_round_trip(speed_features):
    again = VideoFeatures.from_json(speed_features.to_json())
    assert again == speed_features
    assert len(again.times) == len(again.flow_speed) == len(again.saliency)


def test_shot_colour_statistics_follow_the_picture(clips_dir):
    shots = [SyntheticShot(1.5, seed=2, brightness=0.3), SyntheticShot(1.5, seed=2, brightness=1.0)]
    clip = write_synthetic_clip(clips_dir / "dim_bright.mp4", shots)
    features = analyze_video(clip.path)
    dim, bright = features.shots
    assert dim.brightness < 0.5 * bright.brightness
    for shot in features.shots:
        assert 0 <= shot.brightness <= 1 and 0 <= shot.saturation <= 1
        assert -1 <= shot.warmth <= 1 and shot.colourfulness >= 0


def test_colour_statistics_of_a_batch_are_each_frames_own():
    # Thumbnails are measured a batch at a time; each frame's figures must not depend on its
    # batch-mates, and must match the definitions (computed here in float64, independently).
    from symbolic_v2m.video.colour import colour_statistics

    rng = np.random.default_rng(5)
    thumbs = rng.integers(0, 256, (7, 9, 16, 3), dtype=np.uint8)
    thumbs[3] = (0, 0, 255)  # pure red (BGR): saturated, warm, colourful
    thumbs[4] = 128  # grey: no saturation, no colour, neutral
    together = colour_statistics(thumbs)
    alone = [colour_statistics(thumbs[i : i + 1]) for i in range(len(thumbs))]
    for k in range(3):
        assert together[k].tolist() == [float(a[k][0]) for a in alone]
    saturation, colourfulness, warmth = together
    b, g, r = (thumbs[..., c].astype(np.float64) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    expected = (
        np.hypot(rg.std(axis=(1, 2)), yb.std(axis=(1, 2)))
        + 0.3 * np.hypot(rg.mean(axis=(1, 2)), yb.mean(axis=(1, 2)))
    ) / 255
    np.testing.assert_allclose(colourfulness, expected, rtol=1e-5)
    np.testing.assert_allclose(warmth, (r - b).mean(axis=(1, 2)) / 255, atol=1e-6)
    assert saturation[3] == 1.0 and warmth[3] == 1.0 and saturation[4] == 0.0
    assert warmth[4] == 0.0 and colourfulness[4] == 0.0


def test_colour_tracker_measures_every_frame_whatever_the_batch_size():
    from symbolic_v2m.video.colour import BATCH_FRAMES, ColourTracker, colour_statistics

    rng = np.random.default_rng(6)
    count = BATCH_FRAMES + 3  # one full batch and a partial one, flushed on demand
    thumbs = rng.integers(0, 256, (count, 9, 16, 3), dtype=np.uint8)
    tracker = ColourTracker()
    for i, thumb in enumerate(thumbs):
        tracker.update(thumb, i / count)
    assert len(tracker.saturation) == BATCH_FRAMES  # the partial batch still waits
    tracker.flush()
    expected = colour_statistics(thumbs)
    assert list(tracker.saturation) == expected[0].tolist()
    assert list(tracker.colourfulness) == expected[1].tolist()
    assert list(tracker.warmth) == expected[2].tolist()
    assert list(tracker.brightness) == [i / count for i in range(count)]


def test_warmth_separates_red_and_blue_shots(clips_dir):
    # Pick the seeds whose textures are nearest red and nearest blue in hue, then compare them.
    import cv2

    from symbolic_v2m.video.synthetic import texture

    hues = {}
    for seed in range(20):
        hsv = cv2.cvtColor(texture(16, 16, seed), cv2.COLOR_BGR2HSV)
        hues[seed] = float(hsv[..., 0].mean()) * 2  # degrees
    red = min(hues, key=lambda s: min(hues[s], 360 - hues[s]))
    blue = min(hues, key=lambda s: abs(hues[s] - 230))
    clip = write_synthetic_clip(
        clips_dir / "warm_cool.mp4", [SyntheticShot(1.5, seed=red), SyntheticShot(1.5, seed=blue)]
    )
    warm, cool = analyze_video(clip.path).shots
    assert warm.warmth > 0 > cool.warmth


def test_the_timeline_pictures_are_the_frames_a_seek_shows(speed_clip, speed_features):
    """Kept by the analysis's decode at the picture's times, they show what ffmpeg shows when
    it seeks there (the same frame: small differences of scaling, not of content; a frame of
    the neighbouring 2-second shot, another texture moving another way, differs by far more),
    and they are not written with the features."""
    times = picture_times(speed_features.info.duration)
    assert len(speed_features.pictures) == len(times) == 4
    seeked = grab_thumbnails(speed_clip.path, list(times))
    for i, (kept, shown) in enumerate(zip(speed_features.pictures, seeked, strict=True)):
        assert kept.shape == shown.shape == (PICTURE_HEIGHT, 160, 3)
        assert np.abs(kept.astype(int) - shown).mean() < 4
        other = seeked[(i + 1) % len(seeked)]
        assert np.abs(kept.astype(int) - other).mean() > 15
    assert "pictures" not in speed_features.to_dict()
    assert VideoFeatures.from_json(speed_features.to_json()).pictures == ()


def test_pictures_chosen_by_the_container_duration_are_kept_only_near_the_decoded_times():
    """A loop cut by stream copy decodes a few frames longer than its container says (180.18
    against 180 s: 0.17 s at the last of 12 pictures 15 s apart), a damaged file far shorter."""
    frame = np.zeros((PICTURE_HEIGHT, 160, 3), np.uint8)
    decoded = picture_times(180.18)
    by_container = [(t, frame) for t in picture_times(180.0)]
    assert len(_pictures_at(by_container, decoded, 180.18)) == 12
    assert _pictures_at(by_container, picture_times(120.0), 120.0) == ()  # same count, far off
    assert _pictures_at(by_container[:-1], decoded, 180.18) == ()  # the last one never decoded


def test_the_timeline_picture_decodes_only_what_the_analysis_did_not_keep(
    speed_clip, speed_features, tmp_path, monkeypatch
):
    grabbed = []

    def grab(video, times):
        grabbed.extend(times)
        return [np.zeros((PICTURE_HEIGHT, 160, 3), np.uint8) for _ in times]

    monkeypatch.setattr(plot, "grab_thumbnails", grab)
    plot.write_analysis_plot(speed_features, speed_clip.path, tmp_path / "kept.png")
    assert grabbed == [] and (tmp_path / "kept.png").stat().st_size > 0
    read_back = VideoFeatures.from_json(speed_features.to_json())  # as from a project file
    plot.write_analysis_plot(read_back, speed_clip.path, tmp_path / "read.png")
    assert grabbed == list(picture_times(speed_features.info.duration))


def test_rotation_metadata_is_honoured(speed_clip, clips_dir):
    rotated = clips_dir / "rotated.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(speed_clip.path), "-c", "copy",
         "-metadata:s:v:0", "rotate=90", str(rotated)],
        check=True,
    )  # fmt: skip
    features = analyze_video(rotated)
    assert (features.info.width, features.info.height) == (360, 640)
    assert features.info.rotation in (90, 270)
    assert features.info.analysis_height > features.info.analysis_width
    assert features.pictures[0].shape[0] > features.pictures[0].shape[1]  # portrait too
    assert [c.frame for c in features.hard_cuts] == list(speed_clip.cut_frames)


@pytest.mark.parametrize("size", [(360, 640), (1000, 120), (330, 330)])
def test_odd_aspect_ratios(clips_dir, size):
    shots = [SyntheticShot(1.0, speed=0.1, seed=1), SyntheticShot(1.0, speed=0.1, seed=2)]
    clip = write_synthetic_clip(clips_dir / f"aspect_{size[0]}x{size[1]}.mp4", shots, size=size)
    features = analyze_video(clip.path)
    w, h = features.info.analysis_width, features.info.analysis_height
    assert abs(w / h - size[0] / size[1]) < 0.1 * size[0] / size[1]
    assert [c.frame for c in features.hard_cuts] == [30]
    assert features.shots[0].mean_speed == pytest.approx(0.1, rel=0.2)


def test_non_square_pixels_use_display_aspect(clips_dir):
    shots = [SyntheticShot(1.0, seed=1)]
    clip = write_synthetic_clip(
        clips_dir / "sar.mp4", shots, size=(480, 360), extra_args=["-vf", "setsar=4/3"]
    )
    features = analyze_video(clip.path)
    assert (features.info.width, features.info.height) == (640, 360)
    assert features.info.analysis_width / features.info.analysis_height == pytest.approx(
        16 / 9, rel=0.03
    )


def test_variable_frame_rate_timestamps(speed_clip, clips_dir):
    vfr = clips_dir / "vfr.mp4"
    # Drop every third frame and keep the original timestamps, as goldeneye-vfr-drop3 does.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(speed_clip.path), "-vf",
         "select='not(eq(mod(n\\,3)\\,2))'", "-fps_mode", "vfr", "-c:v", "libx264", str(vfr)],
        check=True,
    )  # fmt: skip
    features = analyze_video(vfr)
    assert features.info.variable_frame_rate
    assert features.info.duration == pytest.approx(8.0, abs=0.1)
    found = [c.time for c in features.hard_cuts]
    assert len(found) == 3
    for truth, time in zip(speed_clip.cut_times, found, strict=True):
        assert abs(time - truth) <= 2 / 30 + 1e-6  # within two source frames, in seconds
    # Flow speed is per second, so dropped frames do not inflate it.
    assert features.shots[3].mean_speed == pytest.approx(SHOT_SPEEDS[3], rel=0.15)


def test_fps_override_retimes_frames(speed_clip, clips_dir):
    raw = clips_dir / "raw.h264"  # an elementary stream: no container timing
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speed_clip.path), "-c", "copy",
                    str(raw)], check=True)  # fmt: skip
    features = analyze_video(raw, AnalysisConfig(fps=Fraction(15)))
    assert features.info.fps == 15 and features.info.fps_source == "override"
    assert features.info.duration == pytest.approx(16.0, abs=0.1)  # 240 frames at 15 fps
    assert [round(c.time, 2) for c in features.hard_cuts] == [4.0, 8.0, 12.0]


@pytest.mark.parametrize("text", [None, "", "0/0", "1000/1", "90000/1", "abc", "-5"])
def test_implausible_container_rates_count_as_missing(text):
    from symbolic_v2m.video.probe import _parse_rate

    assert _parse_rate(text) is None
    assert _parse_rate("30000/1001") == Fraction(30000, 1001)


def test_config_validation_names_the_bad_value():
    with pytest.raises(ConfigError, match="received 5"):
        AnalysisConfig(area=5)
    with pytest.raises(ConfigError, match="nope"):
        CutConfig(detector="nope")


# HistogramDetector compares luma histograms only, and the synthetic shots differ in hue more
# than in luma distribution, so it is not expected to separate them.
@pytest.mark.parametrize("detector", ["content", "hash"])
def test_other_detectors_find_the_cuts(speed_clip, detector):
    features = analyze_video(speed_clip.path, AnalysisConfig(cuts=CutConfig(detector=detector)))
    assert [c.frame for c in features.hard_cuts] == list(speed_clip.cut_frames)


def test_flash_is_not_a_cut(accent_clip):
    features = analyze_video(accent_clip.path, AnalysisConfig(cuts=CutConfig("content", 20.0)))
    assert features.hard_cuts == ()


def test_fade_through_black_is_reported_as_fade(clips_dir):
    shots = [SyntheticShot(2.0, seed=1, fade_out=0.6), SyntheticShot(2.0, seed=2, fade_in=0.6)]
    clip = write_synthetic_clip(clips_dir / "fade.mp4", shots)
    features = analyze_video(clip.path)
    assert features.hard_cuts == ()
    fades = [c for c in features.cuts if c.kind == "fade"]
    assert len(fades) == 1 and abs(fades[0].time - 2.0) <= 0.2
    assert fades[0].strength > 0.1
    assert len(features.shots) == 2


def test_directogram_splits_each_vector_between_its_two_nearest_directions():
    from symbolic_v2m.video.motion import MotionTracker

    tracker = MotionTracker((32, 32), bins=8)
    rng = np.random.default_rng(7)
    angle = rng.uniform(0, 2 * np.pi, 500).astype(np.float32)
    angle[:3] = (0.0, np.float32(2 * np.pi), np.float32(np.pi / 4))  # the edges and a bin centre
    magnitude = rng.uniform(0, 3, 500).astype(np.float32)
    expected = np.zeros(8)
    for m, a in zip(magnitude.astype(np.float64), angle.astype(np.float64), strict=True):
        position = a * 8 / (2 * np.pi)
        lower = int(np.floor(position))
        expected[lower % 8] += m * (1 - (position - lower))
        expected[(lower + 1) % 8] += m * (position - lower)
    directogram = tracker._bin(magnitude.copy(), angle.copy())
    np.testing.assert_allclose(directogram, expected, rtol=1e-5)
    assert directogram.sum() == pytest.approx(float(magnitude.astype(np.float64).sum()), rel=1e-5)
