"""Corpus -> cached token arrays for the three stages, and the split they belong to.

``prepare_corpus`` reads every song through a :class:`~symbolic_v2m.data.corpus.Corpus` (in
parallel worker processes), quantises, checks the quantisation, encodes each stage, and writes::

    DIR/manifest.json             cache key, split, excluded and skipped songs, counts, timing
    DIR/quantisation.json         the quantisation report, per song and overall
    DIR/{split}/{stage}.npz       tokens (N, F) int16, ticks (N,) int32, offsets (S + 1,),
                                  song_ids (S,): song i is tokens[offsets[i]:offsets[i + 1]]

The cache key is a hash of the corpus adapter's fingerprint, the vocabulary of every stage, the
split and the exclusion rule: when all match, ``prepare_corpus`` returns at once; when any
changes (a new family, a new duration bin), the arrays are rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from symbolic_v2m.data.corpus import Corpus
from symbolic_v2m.errors import DataError, InputError
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.tokens import StageContext, encode_part
from symbolic_v2m.music.vocab import stage_spec

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"
REPRESENTATION_VERSION = 1


def representation_fingerprint() -> str:
    """A hash of every stage's vocabulary: families, values, token-type layouts."""
    desc = {
        "version": REPRESENTATION_VERSION,
        "stages": {
            role.value: {
                "families": [
                    [f.name, [repr(v) for v in f.values], f.predicted]
                    for f in stage_spec(role).families
                ],
                "types": stage_spec(role).type_families,
            }
            for role in Role
        },
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PrepareConfig:
    """How to prepare a corpus.

    ``max_off_grid`` excludes from *every* split the songs whose share of note onsets that sit
    more than a 64th note away from the nearest 16th exceeds it: triplets, swing and loose
    timing that the straight 16th grid would distort.
    """

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_off_grid: float = 0.2


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_corpus` did."""

    out_dir: Path
    cached: bool
    songs: dict[str, int]
    tokens: dict[str, dict[str, int]]
    excluded: dict[str, str]
    skipped: dict[str, str]
    seconds: float


def load_split(path: Path) -> dict[str, list[str]]:
    """A split file (``{"train": [...], "valid": [...], "test": [...]}``)."""
    try:
        doc = json.loads(Path(path).read_text())
        return {name: [str(s) for s in doc[name]] for name in SPLITS}
    except FileNotFoundError:
        raise InputError(f"{path}: split file not found") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a split file ({exc})") from None


def default_split_path(corpus_name: str) -> Path:
    """The split committed in the repository: ``datasets/<corpus>/split.json``."""
    return Path(__file__).resolve().parents[2] / "datasets" / corpus_name / "split.json"


def _prepare_song(task: tuple[Corpus, str]) -> dict:
    corpus, song_id = task
    try:
        song = corpus.load(song_id)
    except DataError as exc:
        return {"song_id": song_id, "error": str(exc)}
    score = song.score
    context = StageContext.from_score(score)
    q = song.quantisation
    return {
        "song_id": song_id,
        "sequences": {
            role.value: (seq.tokens, seq.ticks)
            for role in Role
            for seq in [encode_part(score, role, context)]
        },
        "report": {
            "notes": q.notes,
            "moved_32nd": q.moved_32nd,
            "moved_64th": q.moved_64th,
            "mean_shift_ticks": q.displacement_sum / q.notes if q.notes else 0.0,
            "dropped_before_start": q.dropped_before_start,
            "merged_duplicates": q.merged_duplicates,
            "bars": score.n_bars,
            "meters": sorted({str(m) for m in score.meters}),
            "note": song.notes,
        },
    }


def _cache_key(corpus: Corpus, split: dict[str, list[str]], config: PrepareConfig) -> str:
    desc = {
        "corpus": corpus.fingerprint(),
        "representation": representation_fingerprint(),
        "split": split,
        "max_off_grid": config.max_off_grid,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def _write_json(path: Path, doc: dict) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1) + "\n")


def prepare_corpus(
    corpus: Corpus,
    split: dict[str, list[str]],
    out_dir: Path,
    config: PrepareConfig = PrepareConfig(),
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PrepareResult:
    """Build (or find cached) token arrays for every stage and split; see the module doc.

    Songs that fail to load are skipped with a warning naming the file; songs that quantise
    badly are excluded; the rest of the corpus still prepares.
    """
    out_dir = Path(out_dir)
    key = _cache_key(corpus, split, config)
    manifest_path = out_dir / MANIFEST
    if manifest_path.is_file() and not force:
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            manifest = {}
        files_ok = all((out_dir / s / f"{r.value}.npz").is_file() for s in SPLITS for r in Role)
        if manifest.get("cache_key") == key and files_ok:
            return PrepareResult(
                out_dir,
                True,
                manifest["songs"],
                manifest["tokens"],
                manifest["excluded"],
                manifest["skipped"],
                0.0,
            )

    started = time.perf_counter()
    available = set(corpus.song_ids())
    wanted = [s for name in SPLITS for s in split[name]]
    missing = [s for s in wanted if s not in available]
    skipped: dict[str, str] = {s: "not in the corpus" for s in missing}
    for song_id in missing:
        log.warning(
            "%s: song %s is in the split but not in the corpus; skipped", corpus.name, song_id
        )
    tasks = [(corpus, s) for s in wanted if s in available]
    results: dict[str, dict] = {}
    workers = max(1, min(config.workers, len(tasks)))
    if workers > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            for done, result in enumerate(pool.imap_unordered(_prepare_song, tasks, 4), 1):
                results[result["song_id"]] = result
                if progress:
                    progress(done, len(tasks))
    else:
        for done, task in enumerate(tasks, 1):
            result = _prepare_song(task)
            results[result["song_id"]] = result
            if progress:
                progress(done, len(tasks))

    excluded: dict[str, str] = {}
    report: dict[str, dict] = {}
    for song_id, result in results.items():
        if "error" in result:
            skipped[song_id] = result["error"]
            log.warning("skipped song %s: %s", song_id, result["error"])
            continue
        r = result["report"]
        report[song_id] = r
        off_grid = r["moved_64th"] / r["notes"] if r["notes"] else 1.0
        if off_grid > config.max_off_grid:
            excluded[song_id] = (
                f"{off_grid:.0%} of onsets more than a 64th note off the 16th grid "
                f"(limit {config.max_off_grid:.0%})"
            )

    songs: dict[str, int] = {}
    tokens: dict[str, dict[str, int]] = {}
    for name in SPLITS:
        ids = [s for s in split[name] if s in report and s not in excluded]
        songs[name] = len(ids)
        tokens[name] = {}
        for role in Role:
            seqs = [results[s]["sequences"][role.value] for s in ids]
            lengths = [len(t) for t, _ in seqs]
            width = len(stage_spec(role).families)
            arrays = {
                "tokens": np.concatenate([t for t, _ in seqs])
                if seqs
                else np.zeros((0, width), np.int16),
                "ticks": np.concatenate([k for _, k in seqs]) if seqs else np.zeros(0, np.int32),
                "offsets": np.cumsum([0, *lengths]).astype(np.int64),
                "song_ids": np.array(ids, dtype="U16"),
            }
            path = out_dir / name / f"{role.value}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
            tokens[name][role.value] = int(sum(lengths))

    total_notes = sum(r["notes"] for r in report.values())
    overall = {
        "songs": len(report),
        "notes": total_notes,
        "moved_32nd_share": sum(r["moved_32nd"] for r in report.values()) / max(total_notes, 1),
        "moved_64th_share": sum(r["moved_64th"] for r in report.values()) / max(total_notes, 1),
        "mean_shift_ticks": sum(r["mean_shift_ticks"] * r["notes"] for r in report.values())
        / max(total_notes, 1),
        "dropped_before_start": sum(r["dropped_before_start"] for r in report.values()),
        "merged_duplicates": sum(r["merged_duplicates"] for r in report.values()),
        "excluded": len(excluded),
    }
    _write_json(out_dir / "quantisation.json", {"overall": overall, "songs": report})
    seconds = time.perf_counter() - started
    manifest = {
        "cache_key": key,
        "corpus": corpus.name,
        "corpus_fingerprint": corpus.fingerprint(),
        "representation": representation_fingerprint(),
        "config": asdict(config) | {"workers": workers},
        "split": {
            name: [s for s in split[name] if s in report and s not in excluded] for name in SPLITS
        },
        "songs": songs,
        "tokens": tokens,
        "excluded": excluded,
        "skipped": skipped,
        "seconds": round(seconds, 2),
    }
    _write_json(manifest_path, manifest)  # last: its presence marks a complete cache
    return PrepareResult(out_dir, False, songs, tokens, excluded, skipped, seconds)


@dataclass(frozen=True, eq=False)
class StageArrays:
    """One stage's prepared sequences for one split (see the module doc for the layout)."""

    role: Role
    tokens: np.ndarray
    ticks: np.ndarray
    offsets: np.ndarray
    song_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.song_ids)

    def song(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens (T, F), ticks (T,))`` of song ``index``."""
        a, b = self.offsets[index], self.offsets[index + 1]
        return self.tokens[a:b], self.ticks[a:b]


def load_stage_arrays(data_dir: Path, split: str, role: Role | str) -> StageArrays:
    """Read ``DIR/{split}/{stage}.npz``; a clear error if the directory is not prepared."""
    role = Role(role)
    path = Path(data_dir) / split / f"{role.value}.npz"
    if not (Path(data_dir) / MANIFEST).is_file() or not path.is_file():
        raise InputError(f"{data_dir}: not a prepared dataset (run 'symbolic-v2m dataset prepare')")
    with np.load(path) as npz:
        return StageArrays(
            role, npz["tokens"], npz["ticks"], npz["offsets"], tuple(npz["song_ids"].tolist())
        )
