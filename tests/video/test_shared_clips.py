"""Cuts on the real clips in ../shared/videos against PySceneDetect's own goldens, and no
returning scene where none returns."""

from __future__ import annotations

import json

import pytest

from symbolic_v2m.video import analyze_video

from ..conftest import SHARED

VIDEOS = SHARED / "videos"


def _goldens() -> dict[str, list[int]]:
    path = VIDEOS / "cuts.json"
    if not path.exists():
        return {}
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name", ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "fades.mp4", "counter.mp4"]
)
def test_cuts_match_goldens_within_two_frames(name):
    golden = _goldens()[name]
    features = analyze_video(VIDEOS / name)
    # no scene returns in these clips: every shot is a scene of its own (form: scenes.py)
    assert [s.scene for s in features.shots] == list(range(len(features.shots)))
    fps = float(features.info.fps)
    # Golden frame numbers are at the nominal rate; times are what a VFR clip must match.
    golden_times = [frame / fps for frame in golden]
    if features.info.variable_frame_rate:
        fps = 24000 / 1001  # goldeneye's nominal (r_frame_rate) rate
        golden_times = [frame / fps for frame in golden]
    found = [c.time for c in features.hard_cuts]
    assert len(found) == len(golden_times), (found, golden_times)
    for truth, time in zip(golden_times, found, strict=True):
        assert abs(time - truth) <= 2 / fps + 1e-6


@pytest.mark.shared_data
def test_vfr_clip_cut_times_in_seconds():
    features = analyze_video(VIDEOS / "goldeneye-vfr-drop3.mp4")
    assert features.info.variable_frame_rate
    assert features.info.frame_count == 160
    assert [round(c.time, 2) for c in features.hard_cuts] == [3.75, 8.76]
    assert features.info.duration == pytest.approx(10.0, abs=0.1)
