"""The editor's own timeline as input: cuts and markers from an editing program's file.

    >>> edit = read_edit_timeline(Path("cut.edl"))           # doctest: +SKIP
    >>> check_edit_timeline(edit, features.info)              # doctest: +SKIP
    >>> features = with_edit_cuts(features, edit)             # doctest: +SKIP

OpenTimelineIO reads the file, by its adapters: CMX 3600 EDL (``.edl``), Final Cut Pro 7 XML
(``.xml``), FCPXML (``.fcpxml``), Kdenlive (``.kdenlive``) and OTIO's own ``.otio``. This
module only turns OTIO's timeline into what our timeline needs:

- **Cuts** are the boundaries between neighbouring items of the first video track (a clip
  after a clip, a gap, or a transition: a transition is a fade at its middle). They *replace*
  the cuts detection found: the editor's cut list is the truth, and the picture's own motion
  and colour still come from the video.
- **Markers** (on the timeline, a track or a clip, wherever the program put them) are **hit
  points**; a marker whose name starts with "section" (any case) is a section start instead: a
  bar line there, like a cut. A clip's marker is in the clip's source time and is moved to the
  timeline's.
- Times count from the timeline's first frame, so a 01:00:00:00 start (the broadcast habit) or
  an EDL's record timecodes change nothing. The timeline must be the video's own: the same
  length within two frames, and the same frame rate within 0.1%. Anything else is a one-line
  :class:`~symbolic_v2m.errors.InputError` naming the file.

Why a layer of our own: OTIO models the edit (clips, media references, rates), not "where are
the cuts of the picture in seconds"; the walk over items, clip-relative marker times and the
checks against the video are ours to write, and they are small.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from pathlib import Path

from symbolic_v2m.errors import InputError
from symbolic_v2m.video.features import Cut, VideoFeatures, VideoInfo

#: What the adapters read, by file extension (OTIO picks the adapter from it).
TIMELINE_SUFFIXES = (".edl", ".xml", ".fcpxml", ".kdenlive", ".otio")
#: A marker named like this (case-insensitive) starts a section instead of making a hit point.
SECTION_MARKER = "section"


@dataclass(frozen=True)
class EditTimeline:
    """What an editing program's timeline says about the picture, in seconds from its start:
    ``cuts`` (time, kind) with kind ``"cut"`` or ``"fade"``, ``hits`` (the markers' times) and
    ``sections`` (section markers' times), its ``rate`` (frames per second) and ``duration``."""

    path: Path
    cuts: tuple[tuple[float, str], ...]
    hits: tuple[float, ...]
    sections: tuple[float, ...]
    rate: float
    duration: float


def read_edit_timeline(path: Path, video_fps: float | None = None) -> EditTimeline:
    """Read ``path`` with OpenTimelineIO (module doc); :func:`check_edit_timeline` then holds
    it against the video. An EDL does not say its frame rate: it is read at ``video_fps``.

    Raises:
        InputError: the file is missing, not a timeline OTIO can read, or has no video track.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such timeline file")
    if path.suffix.lower() not in TIMELINE_SUFFIXES:
        raise InputError(
            f"{path}: not a timeline file we read (give {', '.join(TIMELINE_SUFFIXES)})"
        )
    otio = _otio()
    try:
        # some adapters print deprecation notices to stdout, which is the CLI's data channel
        with contextlib.redirect_stdout(io.StringIO()):
            options = {"rate": video_fps} if path.suffix.lower() == ".edl" and video_fps else {}
            loaded = otio.adapters.read_from_file(str(path), **options)
    except Exception as exc:  # noqa: BLE001 - adapters raise anything; one line, the reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: OpenTimelineIO cannot read it ({reason})") from None
    timeline = _first_timeline(otio, loaded)
    track = (
        next((t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video), None)
        if timeline is not None
        else None
    )
    if track is None or len(track) == 0:
        raise InputError(f"{path}: the timeline has no video track with clips")
    return _walk(otio, path, timeline, track)


def with_edit_cuts(features: VideoFeatures, edit: EditTimeline) -> VideoFeatures:
    """``features`` with the timeline's cuts and section starts in place of the detected cuts
    (each at full strength: the editor's cuts are all equally meant)."""
    fps = float(features.info.fps)
    marks = [(t, kind) for t, kind in edit.cuts] + [(t, "cut") for t in edit.sections]
    cuts = sorted(
        {round(t, 6): kind for t, kind in marks if 0 < t < features.info.duration}.items()
    )
    return replace(
        features,
        cuts=tuple(Cut(t, int(round(t * fps)), 1.0, kind) for t, kind in cuts),  # type: ignore[arg-type]
    )


def _otio():  # noqa: ANN202 - the module
    try:
        import opentimelineio
    except ImportError:  # pragma: no cover - a dependency; `make setup` installs it
        raise InputError(
            "--timeline needs OpenTimelineIO: pip install opentimelineio otio-cmx3600-adapter "
            "otio-fcp-adapter otio-fcpx-xml-adapter otio-kdenlive-adapter"
        ) from None
    return opentimelineio


def _first_timeline(otio, loaded):  # noqa: ANN001, ANN202 - OTIO objects
    """The timeline in what an adapter returned (FCPXML may wrap it in a collection)."""
    if isinstance(loaded, otio.schema.Timeline):
        return loaded
    if isinstance(loaded, otio.schema.SerializableCollection):
        for child in loaded.find_children(descended_from_type=otio.schema.Timeline):
            return child
    return None


def _walk(otio, path: Path, timeline, track) -> EditTimeline:  # noqa: ANN001 - OTIO objects
    """Cuts, markers, rate and length of ``track`` (module doc)."""
    rates = {float(item.duration().rate) for item in track if item.duration().rate > 0}
    rate = max(rates) if rates else 0.0
    cuts: list[tuple[float, str]] = []
    position = 0.0
    previous = None
    for item in track:
        if isinstance(item, otio.schema.Transition):
            start = item.range_in_parent().start_time.to_seconds()
            middle = start + item.duration().to_seconds() / 2
            if cuts and abs(cuts[-1][0] - middle) < 1e-6:
                cuts.pop()
            cuts.append((middle, "fade"))
            previous = item
            continue
        start = item.range_in_parent().start_time.to_seconds()
        if previous is not None and not isinstance(previous, otio.schema.Transition) and start > 0:
            cuts.append((start, "cut"))
        position = max(position, start + item.duration().to_seconds())
        previous = item
    hits: list[float] = []
    sections: list[float] = []

    def add(name: str, seconds: float) -> None:
        (sections if name.strip().lower().startswith(SECTION_MARKER) else hits).append(seconds)

    for holder in (timeline.tracks, track):
        for marker in holder.markers:
            add(marker.name, marker.marked_range.start_time.to_seconds())
    for item in track:
        if not isinstance(item, otio.core.Item) or not item.markers:
            continue
        in_parent = item.range_in_parent().start_time.to_seconds()
        source_start = item.trimmed_range().start_time.to_seconds()
        for marker in item.markers:
            add(marker.name, in_parent + marker.marked_range.start_time.to_seconds() - source_start)
    return EditTimeline(
        path=path,
        cuts=tuple(cuts),
        hits=tuple(sorted(t for t in hits if 0 <= t <= position)),
        sections=tuple(sorted(t for t in sections if 0 < t < position)),
        rate=rate,
        duration=position,
    )


def check_edit_timeline(edit: EditTimeline, info: VideoInfo) -> None:
    """The timeline must be the video's own: its length within two frames, its rate within
    0.1%.

    Raises:
        InputError: one line naming the file, the two figures and the question to ask.
    """
    fps = float(info.fps)
    if edit.rate and abs(edit.rate - fps) > 0.001 * fps:
        raise InputError(
            f"{edit.path}: the timeline runs at {edit.rate:.3f} fps and the video at {fps:.3f} "
            "fps; is it the timeline of this video?"
        )
    if abs(edit.duration - info.duration) > 2.0 / fps + 1e-6:
        longer = "longer" if edit.duration > info.duration else "shorter"
        raise InputError(
            f"{edit.path}: the timeline is {edit.duration:.2f} s long, {longer} than the video "
            f"({info.duration:.2f} s); is it the timeline of this video?"
        )
