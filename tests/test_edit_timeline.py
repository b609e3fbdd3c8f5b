"""The editor's timeline as input (``--timeline``), in every format OpenTimelineIO writes.

Each test timeline is made here with OpenTimelineIO from a synthetic clip's known shots: a
01:00:00:00 start, clips whose source media starts at a camera timecode, one cut that the
picture does not show (a cut inside one continuous shot, so only the timeline knows it) and a
marker. The composition is judged from its project file and its MIDI: the cuts land on
downbeats where the timeline says, the marker is a hit point.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.quiet_import import quiet_import
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

otio = pytest.importorskip("opentimelineio")
pretty_midi = quiet_import("pretty_midi")

RATE = 25
#: the picture's shots (seconds); the timeline cuts the last one again at 9.6 s
SHOTS = (4.0, 3.0, 5.0)
TIMELINE_CUTS = (4.0, 7.0, 9.6)
MARKER_AT = 5.2  # in the second clip: a hit point
FORMATS = {"cmx_3600": ".edl", "fcp_xml": ".xml", "fcpx_xml": ".fcpxml",
           "kdenlive": ".kdenlive", "otio_json": ".otio"}  # fmt: skip
#: the Kdenlive adapter (deprecated by its authors) writes no markers
CARRIES_MARKERS = {"cmx_3600", "fcp_xml", "fcpx_xml", "otio_json"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    shots = [
        SyntheticShot(d, speed=0.1 + 0.1 * i, direction=60.0 * i, seed=20 + i)
        for i, d in enumerate(SHOTS)
    ]
    folder = tmp_path_factory.mktemp("edit")
    return write_synthetic_clip(folder / "edit.mp4", shots, fps=Fraction(RATE)).path


def _time(seconds: float, rate: float = RATE):
    return otio.opentime.RationalTime(round(seconds * rate), rate)


def edit_timeline(lengths: list[float], rate: float = RATE, marker: bool = True):
    """A timeline of clips of ``lengths`` seconds, cut where their boundaries are."""
    timeline = otio.schema.Timeline(name="edit")
    timeline.global_start_time = otio.opentime.RationalTime(3600 * rate, rate)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    camera = 10 * 3600.0  # the source media's own timecode starts at 10:00:00:00
    start = 0.0
    for i, length in enumerate(lengths):
        clip = otio.schema.Clip(
            name=f"shot {i + 1}",
            media_reference=otio.schema.ExternalReference(
                target_url="file:///edit.mp4",
                available_range=otio.opentime.TimeRange(_time(camera, rate), _time(60, rate)),
            ),
            source_range=otio.opentime.TimeRange(_time(camera + start, rate), _time(length, rate)),
        )
        if marker and start <= MARKER_AT < start + length:
            at = camera + MARKER_AT  # a clip's marker is in its source time
            clip.markers.append(
                otio.schema.Marker(name="slam", marked_range=otio.opentime.TimeRange(
                    _time(at, rate), _time(0, rate)))
            )  # fmt: skip
        track.append(clip)
        start += length
    return timeline


def _lengths(cuts: tuple[float, ...], end: float) -> list[float]:
    edges = [0.0, *cuts, end]
    return [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]


@pytest.mark.parametrize("adapter", list(FORMATS))
def test_the_timeline_cuts_and_marker_shape_the_music(adapter, clip, tiny_weights, tmp_path):
    path = tmp_path / f"cut{FORMATS[adapter]}"
    otio.adapters.write_to_file(
        edit_timeline(_lengths(TIMELINE_CUTS, sum(SHOTS))), str(path), adapter_name=adapter
    )
    out = tmp_path / "o"
    argv = ["compose", str(clip), "--out", str(out), "--weights", str(tiny_weights), "--timeline",
            str(path), "--only", "midi,project", "--hit-threshold", "1.1", "-q"]  # fmt: skip
    assert main(argv) == 0
    project = json.loads((out / "edit.v2m.json").read_text())
    cuts = [c["time"] for c in project["features"]["cuts"]]
    assert np.allclose(cuts, TIMELINE_CUTS, atol=1.0 / RATE), cuts  # replaced, with 9.6 s
    downbeats = pretty_midi.PrettyMIDI(str(out / "edit.mid")).get_downbeats()
    for cut in TIMELINE_CUTS:
        assert np.min(np.abs(downbeats - cut)) <= 1.0 / RATE, (cut, downbeats)
    hits = [h["time"] for h in project["timeline"]["hits"]]
    if adapter in CARRIES_MARKERS:
        assert len(hits) == 1 and abs(hits[0] - MARKER_AT) <= 1.0 / RATE + 1e-6, hits  # a frame
    else:
        assert hits == []


@pytest.mark.parametrize(
    ("lengths", "rate", "said"),
    [
        (_lengths(TIMELINE_CUTS, sum(SHOTS) + 2.0), RATE, "longer than the video"),
        (_lengths(TIMELINE_CUTS, sum(SHOTS)), 30, "the timeline runs at 30.000 fps"),
    ],
)
def test_a_timeline_of_another_video_is_refused(lengths, rate, said, clip, tmp_path, capsys):
    path = tmp_path / "other.otio"
    otio.adapters.write_to_file(edit_timeline(lengths, rate), str(path))
    out = tmp_path / "o"
    code = main(["compose", str(clip), "--out", str(out), "--timeline", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and said in err and str(path) in err, err
    assert not out.exists()


def test_an_unreadable_timeline_is_one_line_before_any_work(clip, tmp_path, capsys):
    path = tmp_path / "broken.edl"
    path.write_text("TITLE: broken\n001 this is not an event line at all\n")
    code = main(["compose", str(clip), "--out", str(tmp_path / "o"), "--timeline", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "OpenTimelineIO cannot read it" in err, err
    (tmp_path / "cut.mov").write_bytes(b"")
    code = main(["compose", str(clip), "--timeline", str(tmp_path / "cut.mov")])
    assert code == 1 and "not a timeline file" in capsys.readouterr().err
