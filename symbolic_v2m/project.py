"""The project file (``NAME.v2m.json``): everything needed to rebuild or change a composition.

It records the video (path, size, SHA-256), its analysis, every option, the timeline (tempo map,
bars, key, sections, cuts, controls), the model versions, the seeds per stage, the composed
parts, an edit history, and the few small frames the timeline picture shows (JPEG, base64:
a regeneration redraws the picture without decoding the video again).

The schema is versioned. :func:`load_project` refuses a newer version (naming both and saying
to upgrade symbolic-v2m), brings an older one up to date through :data:`MIGRATIONS` one version
at a time (refusing one older than any step it has), and checks every field it or a later job
reads, so that a hand edit gone wrong is a one-line error naming the field, e.g.
``clip.v2m.json: score.melody[3]: pitch 200 out of range 0..127``, not a traceback later.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from symbolic_v2m import __version__
from symbolic_v2m.errors import InputError
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.music.chords import QUALITIES
from symbolic_v2m.music.score import (
    TICKS_PER_BEAT,
    Chord,
    KeyChange,
    Note,
    Score,
    TempoMap,
    TimeSignature,
)
from symbolic_v2m.music.vocab import DURATIONS, METERS, stage_spec
from symbolic_v2m.timeline import Timeline
from symbolic_v2m.video.features import PICTURE_HEIGHT

SCHEMA = "symbolic-v2m-project"
SCHEMA_VERSION = 2

#: Steps that turn a project document of version N into version N + 1, by N, so that every
#: older file keeps opening. Version 2 added the optional ``pictures``: a version-1 file is a
#: version-2 file without them.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: lambda doc: doc}

#: JPEG quality of the picture's frames in the project file (about 6 kB of base64 a 160x90 frame).
PICTURE_QUALITY = 85


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (videos can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def score_to_dict(score: Score) -> dict[str, Any]:
    """A score as JSON types (notes as [onset, duration, pitch, velocity] rows)."""
    return {
        "ticks_per_beat": score.ticks_per_beat,
        "meters": [str(m) for m in score.meters],
        "tempo": [list(a) for a in score.tempo.anchors],
        "keys": [[k.onset, k.tonic, k.mode] for k in score.keys],
        "phrase_starts": list(score.phrase_starts),
        "chords": [[c.onset, c.duration, c.root, c.quality, c.bass] for c in score.chords],
        "melody": [[n.onset, n.duration, n.pitch, n.velocity] for n in score.melody],
        "accompaniment": [[n.onset, n.duration, n.pitch, n.velocity] for n in score.accompaniment],
    }


def score_from_dict(d: dict[str, Any]) -> Score:
    """Inverse of :func:`score_to_dict`."""
    tpb = int(d["ticks_per_beat"])
    return Score(
        meters=tuple(TimeSignature.parse(m) for m in d["meters"]),
        tempo=TempoMap(tuple((int(t), float(s)) for t, s in d["tempo"]), tpb),
        keys=tuple(KeyChange(int(o), int(t), str(m)) for o, t, m in d["keys"]),
        chords=tuple(Chord(int(o), int(du), r, str(q), b) for o, du, r, q, b in d["chords"]),
        melody=tuple(Note(*map(int, n)) for n in d["melody"]),
        accompaniment=tuple(Note(*map(int, n)) for n in d["accompaniment"]),
        phrase_starts=tuple(int(b) for b in d["phrase_starts"]),
        ticks_per_beat=tpb,
    )


def timeline_to_dict(timeline: Timeline) -> dict[str, Any]:
    """The timeline as JSON types."""
    from symbolic_v2m.video.features import scene_letter

    d = asdict(timeline)
    d["tempo"] = [list(a) for a in timeline.tempo.anchors]
    d["meters"] = [str(m) for m in timeline.meters]
    # the scene of each section as a letter ("-": blank or unknown), beside the form letters
    d["scenes"] = " ".join(
        scene_letter(s.scene) if s.scene >= 0 else "-" for s in timeline.sections
    )
    return d


@dataclass(frozen=True)
class Project:
    """A composition and how it was made (see the module doc)."""

    video: dict[str, Any]
    options: dict[str, Any]
    features: dict[str, Any]
    timeline: dict[str, Any]
    score: dict[str, Any]
    models: dict[str, Any]
    seeds: dict[str, int]
    outputs: dict[str, str] = field(default_factory=dict)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)
    version: int = SCHEMA_VERSION
    created_by: str = __version__

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA} | asdict(self), indent=1)

    def save(self, path: Path) -> None:
        """Write atomically."""
        with atomic_output(Path(path)) as tmp:
            tmp.write_text(self.to_json() + "\n")

    def music(self) -> Score:
        """The composed score."""
        return score_from_dict(self.score)


def encode_pictures(pictures: Sequence[np.ndarray]) -> list[str]:
    """The timeline picture's (h, w, 3) uint8 RGB frames as base64 JPEG text."""
    texts = []
    for picture in pictures:
        bgr = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PICTURE_QUALITY])
        if not ok:
            return []
        texts.append(base64.b64encode(data.tobytes()).decode("ascii"))
    return texts


def decode_pictures(texts: Sequence[str], count: int) -> tuple[np.ndarray, ...]:
    """The frames of :func:`encode_pictures`, if there are ``count`` and each decodes; else
    none. They are only ever shown: without them the picture decodes the video instead, so a
    damaged or hand-edited entry costs time, not an error."""
    if len(texts) != count:
        return ()
    pictures = []
    for text in texts:
        try:
            data = base64.b64decode(text, validate=True)
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            return ()
        # the header's size first: a hand-made file must not make the decoder allocate a
        # picture of any size it claims
        size = _jpeg_size(data)
        if size is None or size[0] != PICTURE_HEIGHT or not 0 < size[1] <= 16 * PICTURE_HEIGHT:
            return ()
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            return ()
        if image is None or image.shape[:2] != size:
            return ()
        pictures.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return tuple(pictures)


#: JPEG start-of-frame markers (baseline, progressive, lossless...; not DHT, JPG or DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's start-of-frame header, or None if it has none."""
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in _SOF_MARKERS:
            return int.from_bytes(data[at + 5 : at + 7], "big"), int.from_bytes(
                data[at + 7 : at + 9], "big"
            )
        at += 2 + length
    return None


def load_project(path: Path) -> Project:
    """Read a project file; a clear one-line error for anything that is not one we can read.

    Raises:
        InputError: the file is missing, not JSON, not a project file, of a schema version this
            build cannot read or migrate, or a field is missing or invalid (the message names
            the field, e.g. ``score.melody[3]: pitch 200 out of range 0..127``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: project file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a project file (not UTF-8 text)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise InputError(f"{path}: not a project file (not JSON: {exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not a project file (JSON nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a symbolic-v2m project file")
    try:
        doc = migrate(doc, path)
        _check_project(doc)
    except _Invalid as exc:
        where = f"{exc.where}: " if exc.where else ""
        raise InputError(f"{path}: {where}{exc.problem}") from None
    doc = {k: v for k, v in doc.items() if k != "schema"}
    try:
        project = Project(**doc)
        project.music()
    except (TypeError, KeyError, ValueError) as exc:  # the checks above should leave nothing
        raise InputError(f"{path}: invalid project file ({exc})") from None
    return project


def migrate(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """``doc`` (a parsed project file) at :data:`SCHEMA_VERSION`: as it is when it has that
    version, brought up one :data:`MIGRATIONS` step at a time when it is older.

    Raises:
        InputError: the version is not an integer, is newer than this build reads (upgrade
            symbolic-v2m), or older than any migration step this build has.
    """
    version = doc.get("version")
    if not _is_int(version):
        raise InputError(f"{path}: version: {version!r} is not a schema version (an integer)")
    if version > SCHEMA_VERSION:
        writer = doc.get("created_by")
        by = f" (written by symbolic-v2m {writer})" if isinstance(writer, str) else ""
        raise InputError(
            f"{path}: project schema version {version}{by} is newer than this symbolic-v2m "
            f"{__version__} reads (version {SCHEMA_VERSION}); upgrade symbolic-v2m"
        )
    if version < SCHEMA_VERSION and any(
        v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)
    ):
        oldest = SCHEMA_VERSION
        while oldest - 1 in MIGRATIONS:
            oldest -= 1
        readable = (
            f"version {SCHEMA_VERSION}"
            if oldest == SCHEMA_VERSION
            else f"versions {oldest} to {SCHEMA_VERSION}"
        )
        raise InputError(
            f"{path}: project schema version {version} is older than any this symbolic-v2m "
            f"{__version__} can read ({readable}); compose the video again"
        )
    while version < SCHEMA_VERSION:
        try:
            doc = MIGRATIONS[version](dict(doc))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a step reads the old layout; a file that does not have it is the file's problem
            raise InputError(
                f"{path}: cannot bring project schema version {version} up to "
                f"{version + 1} ({type(exc).__name__}: {exc})"
            ) from None
        version += 1
        doc["version"] = version
    return doc


def resolve_video(
    project: Project, new_path: Path | None = None, *, required: bool = True
) -> Path | None:
    """The composition's video, checked to be the file it was composed from (its SHA-256).

    ``new_path`` (``regenerate --video NEW_PATH``) is where the video is now when it was moved
    or renamed; it is always checked. Without it, the recorded path is checked and returned when
    ``required`` (an output needs the video: the timeline picture, the MP4); otherwise nothing is
    read and the result is None.

    Raises:
        InputError: the video is not at the path (suggesting ``--video NEW_PATH``), or the file
            there is not the one the composition was made from (naming both paths and hashes).
    """
    recorded = Path(project.video["path"])
    if new_path is None and not required:
        return None
    if new_path is None and not recorded.is_file():
        raise InputError(
            f"{recorded}: the composition's video is not there any more (moved, renamed or "
            "deleted); give its new path with --video NEW_PATH, or regenerate with --only midi"
        )
    video = recorded if new_path is None else Path(new_path)
    if not video.is_file():
        raise InputError(f"{video}: video not found (--video)")
    expected = str(project.video["sha256"])
    actual = file_sha256(video)
    if actual != expected:
        if video == recorded:
            raise InputError(
                f"{video}: the video changed since it was composed (SHA-256 {actual[:12]}..., "
                f"the project records {expected[:12]}...); give the original with --video "
                "NEW_PATH, or compose again"
            )
        raise InputError(
            f"{video}: not the video the composition was made from (SHA-256 {actual[:12]}...; "
            f"{recorded} had {expected[:12]}...); give that video, or compose this one"
        )
    return video


# --- checking a project document --------------------------------------------------------------


class _Invalid(Exception):
    """A field of a project document that is missing or invalid: where, and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


FIELDS = {
    "schema": str,
    "video": dict,
    "options": dict,
    "features": dict,
    "timeline": dict,
    "score": dict,
    "models": dict,
    "seeds": dict,
    "outputs": dict,
    "tracks": list,
    "history": list,
    "pictures": list,
    "version": int,
    "created_by": str,
}
#: Fields a project file must have (the others have defaults).
REQUIRED = ("video", "options", "features", "timeline", "score", "models", "seeds")
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _typed(value: Any, kind: type, where: str) -> Any:
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise _Invalid(where, f"{_short(value)} is not {_TYPE_NAMES[kind]}")
    return value


def _field(doc: dict, key: str, kind: type, where: str) -> Any:
    """``doc[key]``, which must be there and of ``kind``; ``where`` is ``doc``'s own place."""
    if key not in doc:
        raise _Invalid(where, f"missing field {key!r}")
    return _typed(doc[key], kind, f"{where}.{key}" if where else key)


def _short(value: Any) -> str:
    """A value as JSON, cut short (a message is one line)."""
    if isinstance(value, (list, dict)):
        return "[...]" if isinstance(value, list) else "{...}"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _in_range(value: Any, name: str, lo: int, hi: int | None, where: str) -> int:
    if not _is_int(value):
        raise _Invalid(where, f"{name} {_short(value)} is not an integer")
    if value < lo or (hi is not None and value > hi):
        span = f"{lo}.." + ("" if hi is None else str(hi))
        raise _Invalid(where, f"{name} {value} out of range {span}")
    return value


def _one_of(value: Any, name: str, allowed: tuple, where: str) -> Any:
    if value not in allowed or isinstance(value, bool) or isinstance(value, float):
        listed = ", ".join(str(a) for a in allowed)
        raise _Invalid(where, f"{name} {_short(value)} is not one of {listed}")
    return value


def _rows(doc: dict, key: str, columns: tuple[str, ...], where: str) -> list[list]:
    """``doc[key]``, a list of rows of ``len(columns)`` values each."""
    rows = _field(doc, key, list, where)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _Invalid(
                f"{where}.{key}[{i}]",
                f"{_short(row)} is not a row of {len(columns)} ({', '.join(columns)})",
            )
    return rows


def _check_project(doc: dict[str, Any]) -> None:
    """Check every field of a project document that a job reads (raises :class:`_Invalid`)."""
    for key in doc:
        if key not in FIELDS:
            raise _Invalid(key, "unknown field (written by another symbolic-v2m?)")
    for key, kind in FIELDS.items():
        if key in doc or key in REQUIRED:
            _field(doc, key, kind, "")
    _check_video(doc["video"])
    _check_score(doc["score"], "score")
    _check_timeline(doc["timeline"])
    _check_features(doc["features"])
    for stage, seed in doc["seeds"].items():
        _in_range(seed, "seed", 0, None, f"seeds.{stage}")
    for kind, name in doc.get("outputs", {}).items():
        _typed(name, str, f"outputs.{kind}")
    for i, track in enumerate(doc.get("tracks", [])):
        where = f"tracks[{i}]"
        _typed(track, dict, where)
        for key in ("name", "role"):
            _field(track, key, str, where)
        _in_range(_field(track, "program", int, where), "program", 0, 127, where)
        if "channel" in track:
            _in_range(track["channel"], "channel", 0, 15, where)
    for i, picture in enumerate(doc.get("pictures", [])):
        _typed(picture, str, f"pictures[{i}]")  # decoded when drawn: a bad one is not drawn
    for i, edit in enumerate(doc.get("history", [])):
        where = f"history[{i}]"
        _typed(edit, dict, where)
        bars = _field(edit, "bars", list, where)
        if len(bars) != 2 or not all(_is_int(b) and b >= 1 for b in bars) or bars[0] > bars[1]:
            raise _Invalid(f"{where}.bars", f"{_short(bars)} is not a bar range [first, last]")
        for j, stage in enumerate(_field(edit, "stages", list, where)):
            _one_of(stage, "stage", ("chord", "melody", "accompaniment"), f"{where}.stages[{j}]")
        _check_score(_field(edit, "previous_score", dict, where), f"{where}.previous_score")


def _check_video(video: dict) -> None:
    for key in ("path", "name"):
        _field(video, key, str, "video")
    if not video["path"]:
        raise _Invalid("video.path", "empty")
    if not _SHA256.fullmatch(_field(video, "sha256", str, "video")):
        raise _Invalid("video.sha256", f"{_short(video['sha256'])} is not a SHA-256 (64 hex)")
    _in_range(_field(video, "size", int, "video"), "size", 0, None, "video")


def _check_meters(meters: list, where: str) -> list[TimeSignature]:
    if not meters:
        raise _Invalid(where, "no bars")
    parsed = []
    for i, text in enumerate(meters):
        _typed(text, str, f"{where}[{i}]")
        try:
            meter = TimeSignature.parse(text)
        except ValueError as exc:
            raise _Invalid(f"{where}[{i}]", str(exc)) from None
        if meter not in METERS:
            allowed = ", ".join(str(m) for m in METERS)
            raise _Invalid(f"{where}[{i}]", f"meter {meter} is not one of {allowed}")
        parsed.append(meter)
    return parsed


def _check_tempo(doc: dict, where: str) -> None:
    rows = _rows(doc, "tempo", ("tick", "seconds"), where)
    if len(rows) < 2:
        raise _Invalid(f"{where}.tempo", "a tempo map needs at least two anchors")
    last = None
    for i, (tick, seconds) in enumerate(rows):
        at = f"{where}.tempo[{i}]"
        _in_range(tick, "tick", 0, None, at)
        if not _is_number(seconds) or seconds < 0:
            raise _Invalid(at, f"seconds {_short(seconds)} is not a time (a number >= 0)")
        if last is not None and (tick <= last[0] or seconds <= last[1]):
            raise _Invalid(at, "tempo anchors must increase in ticks and in seconds")
        last = (tick, seconds)


def _check_score(score: dict, where: str) -> None:
    tpb = _field(score, "ticks_per_beat", int, where)
    if tpb != TICKS_PER_BEAT:
        raise _Invalid(f"{where}.ticks_per_beat", f"{tpb}; this build's grid has {TICKS_PER_BEAT}")
    meters = _check_meters(_field(score, "meters", list, where), f"{where}.meters")
    length = sum(m.ticks(tpb) for m in meters)
    _check_tempo(score, where)
    for i, (onset, tonic, mode) in enumerate(
        _rows(score, "keys", ("onset", "tonic", "mode"), where)
    ):
        at = f"{where}.keys[{i}]"
        _in_range(onset, "onset", 0, length - 1, at)
        _in_range(tonic, "tonic", 0, 11, at)
        _one_of(mode, "mode", ("major", "minor"), at)
    for i, bar in enumerate(_field(score, "phrase_starts", list, where)):
        _in_range(bar, "bar", 0, len(meters) - 1, f"{where}.phrase_starts[{i}]")
    chord_columns = ("onset", "duration", "root", "quality", "bass")
    for i, (onset, duration, root, quality, bass) in enumerate(
        _rows(score, "chords", chord_columns, where)
    ):
        at = f"{where}.chords[{i}]"
        _in_range(onset, "onset", 0, length - 1, at)
        _in_range(duration, "duration", 1, None, at)
        _one_of(quality, "quality", QUALITIES, at)
        if quality == "N":
            if root is not None or bass is not None:
                raise _Invalid(at, "the no-chord N has no root and no bass (null)")
            continue
        _in_range(root, "root", 0, 11, at)
        if bass is not None:
            _in_range(bass, "bass", 0, 11, at)
    velocities = stage_spec("melody").family("velocity").values
    for part in ("melody", "accompaniment"):
        columns = ("onset", "duration", "pitch", "velocity")
        for i, (onset, duration, pitch, velocity) in enumerate(_rows(score, part, columns, where)):
            at = f"{where}.{part}[{i}]"
            _in_range(onset, "onset", 0, length - 1, at)
            _one_of(duration, "duration", DURATIONS, at)
            _in_range(pitch, "pitch", 0, 127, at)
            _one_of(velocity, "velocity", velocities, at)


def _check_timeline(timeline: dict) -> None:
    n_bars = len(_check_meters(_field(timeline, "meters", list, "timeline"), "timeline.meters"))
    _check_tempo(timeline, "timeline")
    for role, values in _field(timeline, "density", dict, "timeline").items():
        at = f"timeline.density.{role}"
        _typed(values, list, at)
        if len(values) != n_bars:
            raise _Invalid(at, f"{len(values)} values for {n_bars} bars")
        for i, value in enumerate(values):
            _in_range(value, "density", 0, None, f"{at}[{i}]")
    for i, (tick, strength) in enumerate(
        _rows(timeline, "strength", ("tick", "strength"), "timeline")
    ):
        at = f"timeline.strength[{i}]"
        _in_range(tick, "tick", 0, None, at)
        _in_range(strength, "strength", 0, None, at)


def _check_features(features: dict) -> None:
    from symbolic_v2m.video.features import VideoFeatures

    try:
        VideoFeatures.from_dict(features)
    except KeyError as exc:
        raise _Invalid("features", f"missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError, OverflowError, ZeroDivisionError) as exc:
        raise _Invalid("features", f"not a video analysis this build reads ({exc})") from None
