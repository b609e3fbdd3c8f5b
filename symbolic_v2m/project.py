"""The project file (``NAME.v2m.json``): everything needed to rebuild or change a composition.

It records the video (path, size, SHA-256), its analysis, every option, the timeline (tempo map,
bars, key, sections, cuts, controls), the model versions, the seeds per stage, the composed
parts, and an edit history. The schema is versioned; a reader refuses versions it does not know
with a message that says which it read and which it knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from symbolic_v2m import __version__
from symbolic_v2m.errors import InputError
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.music.score import Chord, KeyChange, Note, Score, TempoMap, TimeSignature
from symbolic_v2m.timeline import Timeline

SCHEMA = "symbolic-v2m-project"
SCHEMA_VERSION = 1


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
    d = asdict(timeline)
    d["tempo"] = [list(a) for a in timeline.tempo.anchors]
    d["meters"] = [str(m) for m in timeline.meters]
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


def load_project(path: Path) -> Project:
    """Read a project file; a clear one-line error for anything that is not one we can read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: project file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a project file (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a symbolic-v2m project file")
    if doc.get("version") != SCHEMA_VERSION:
        raise InputError(
            f"{path}: project schema version {doc.get('version')!r}; this build reads "
            f"version {SCHEMA_VERSION}"
        )
    doc.pop("schema")
    try:
        project = Project(**doc)
        project.music()
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: invalid project file ({exc})") from None
    return project
