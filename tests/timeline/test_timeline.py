"""The timeline: bar lines on the cuts, controls from motion, sections, mood."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from symbolic_v2m.data import load_calibration
from symbolic_v2m.music import TimeSignature
from symbolic_v2m.timeline import TimelineConfig, build_timeline, plan_tempo
from symbolic_v2m.timeline.controls import ControlConfig, motion_quantiles
from symbolic_v2m.video.features import Cut, Shot, VideoFeatures, VideoInfo, VisualBeat


def test_cuts_on_a_regular_grid_all_land_on_downbeats_at_the_preferred_tempo() -> None:
    plan = plan_tempo(20.0, [(t, 1.0) for t in (4, 8, 12, 16)], 120)
    assert plan.base_qpm == pytest.approx(120)
    assert all(c.on_downbeat for c in plan.cuts)
    assert [c.bar for c in plan.cuts] == [2, 4, 6, 8]
    assert plan.meters == (TimeSignature(4, 4),) * 10
    assert plan.tempo.seconds(plan.tempo.anchors[-1][0]) == pytest.approx(20.0)


@settings(max_examples=40, deadline=None)
@given(
    qpm=st.floats(85, 135),
    bars=st.lists(st.integers(1, 4), min_size=1, max_size=8),
    tail=st.integers(1, 3),
)
def test_cuts_a_whole_number_of_bars_apart_land_on_downbeats(qpm, bars, tail) -> None:
    bar_seconds = 4 * 60 / qpm
    times = np.cumsum(bars) * bar_seconds
    duration = times[-1] + tail * bar_seconds
    plan = plan_tempo(float(duration), [(float(t), 1.0) for t in times], 110.0)
    for cut in plan.cuts:
        assert cut.on_downbeat, (cut, plan.qpm_per_shot)
        assert plan.tempo.seconds(cut.tick) == pytest.approx(cut.time, abs=1e-9)
    assert plan.tempo.seconds(plan.tempo.anchors[-1][0]) == pytest.approx(duration)
    assert all(abs(q / plan.base_qpm - 1) <= 0.1 + 1e-9 for q in plan.qpm_per_shot)


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.floats(0.3, 9.0), min_size=1, max_size=10), tail=st.floats(0.3, 5))
@example(gaps=[2.0, 1.5], tail=1.859375)  # a last shot with no whole beat count in the band
def test_every_cut_lands_exactly_on_a_beat(gaps, tail) -> None:
    times = np.cumsum(gaps)
    plan = plan_tempo(float(times[-1] + tail), [(float(t), 0.8) for t in times], 120.0)
    assert len(plan.cuts) == len(times)
    for cut in plan.cuts:
        assert cut.tick % 4 == 0
        assert plan.tempo.seconds(cut.tick) == pytest.approx(cut.time, abs=1e-9)
    # a shot keeps the tempo band whenever some whole number of beats fits it (the band spans
    # only 0.2 x the shot's beats, so a short shot may have none: then it leaves the band)
    shots = np.diff([0.0, *times, times[-1] + tail])
    for length, q in zip(shots, plan.qpm_per_shot, strict=True):
        beats = length * plan.base_qpm / 60
        if math.ceil(beats * 0.9 - 1e-9) <= math.floor(beats * 1.1 + 1e-9):
            assert abs(q / plan.base_qpm - 1) <= 0.1 + 1e-9


def test_a_video_shorter_than_a_bar_gets_one_short_bar() -> None:
    plan = plan_tempo(0.7, [], 120)
    assert len(plan.meters) == 1
    assert plan.meters[0].ticks() < 16
    assert plan.tempo.seconds(plan.tempo.anchors[-1][0]) == pytest.approx(0.7)


def test_user_tempo_is_not_searched() -> None:
    plan = plan_tempo(20.0, [(3.3, 1.0)], 100, search=False)
    assert plan.base_qpm == 100


def test_motion_quantiles_rank_bars_by_speed_and_energy_shifts_them() -> None:
    speeds = np.array([0.0, 0.01, 0.05, 0.2, 0.6])
    q = motion_quantiles(speeds, ControlConfig())
    assert np.all(np.diff(q) > 0)
    louder = motion_quantiles(speeds, ControlConfig(energy=0.5))
    assert np.all(louder >= q) and louder.mean() > q.mean()


def _features(speeds: list[float], shot_seconds: float = 4.0, fps: int = 10) -> VideoFeatures:
    """Hand-made features: one shot per speed, a cut between shots, a strong beat per shot."""
    n = int(len(speeds) * shot_seconds * fps)
    times = tuple(i / fps for i in range(n))
    flow = tuple(speeds[int(t // shot_seconds)] for t in times)
    duration = len(speeds) * shot_seconds
    cuts = tuple(Cut(k * shot_seconds, k * shot_seconds * fps, 0.5) for k in range(1, len(speeds)))
    beats = tuple(VisualBeat(k * shot_seconds + 1.3, 0, 1.0 - 0.1 * k) for k in range(len(speeds)))
    shots = tuple(
        Shot(k * shot_seconds, (k + 1) * shot_seconds, 0, 0, 0.7, 0.5, 0.3, 0.2, s)
        for k, s in enumerate(speeds)
    )
    info = VideoInfo(
        "synthetic.mp4",
        640,
        360,
        0,
        "h264",
        Fraction(fps),
        "container",
        duration,
        n,
        320,
        180,
        False,
    )
    return VideoFeatures(info, times, flow, (0.0,) * n, beats, 120.0, 0.5, cuts, shots)


def test_timeline_follows_motion_and_puts_sections_on_cuts() -> None:
    speeds = [0.0, 0.3, 0.02, 0.6, 0.1, 0.005]
    timeline = build_timeline(_features(speeds), load_calibration())
    assert all(c.on_downbeat for c in timeline.cuts)
    assert [s.start_bar for s in timeline.sections[1:]] == [c.bar for c in timeline.cuts]
    for role in ("melody", "accompaniment"):
        rho = spearmanr(timeline.bar_speed, timeline.density[role]).statistic
        assert rho >= 0.8, (role, rho)
    still = [
        d
        for d, s in zip(timeline.density["accompaniment"], timeline.bar_speed, strict=True)
        if s < 1e-9
    ]
    fast = [
        d
        for d, s in zip(timeline.density["accompaniment"], timeline.bar_speed, strict=True)
        if s > 0.59
    ]
    assert max(still) < min(fast)
    # every strong visual beat becomes a required onset on its tick, with a strength
    assert len(timeline.onsets) == len(speeds)
    for tick, beat in zip(timeline.onsets, _features(speeds).beats, strict=True):
        assert timeline.tempo.seconds(tick) == pytest.approx(beat.time, abs=0.07)
    assert all(v >= 1 for _, v in timeline.strength)


def test_bright_warm_video_is_major_dark_cool_is_minor() -> None:
    bright = _features([0.1, 0.1])
    dark_shots = tuple(
        Shot(s.start, s.end, 0, 0, 0.1, 0.1, 0.05, -0.6, s.mean_speed) for s in bright.shots
    )
    dark = VideoFeatures(
        bright.info,
        bright.times,
        bright.flow_speed,
        bright.saliency,
        bright.beats,
        120.0,
        0.5,
        bright.cuts,
        dark_shots,
    )
    calibration = load_calibration()
    assert build_timeline(bright, calibration).key.mode == "major"
    assert build_timeline(dark, calibration).key.mode == "minor"
    forced = build_timeline(dark, calibration, TimelineConfig(mode="major"))
    assert forced.key.mode == "major"


def test_of_a_cut_and_a_fade_closer_than_a_bar_the_cut_gets_the_downbeat() -> None:
    base = _features([0.1, 0.1, 0.1, 0.1])
    # a faint hard cut at 6 s and a deeper fade 0.6 s later (as in testvideo.mp4)
    cuts = (Cut(6.0, 60, 0.05), Cut(6.6, 66, 0.35, kind="fade"))
    features = replace(base, cuts=cuts)
    timeline = build_timeline(features, load_calibration())
    placed = {round(c.time, 2): c for c in timeline.cuts}
    assert placed[6.0].on_downbeat and not placed[6.6].on_downbeat
    assert placed[6.6].tick % 4 == 0  # the fade still lands on a beat
