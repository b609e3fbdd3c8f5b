"""Statistics of a prepared dataset, and the calibration tables the timeline fits controls to.

Everything is read back from the token arrays, so the figures describe exactly what the models
train on. Per stage and split: songs, bars, tokens, notes (chords for the chord stage). Over the
train split, for each stage's part, the **calibration tables**:

- ``density``: histogram of per-bar density (ticks with an onset) for each meter;
- ``strength``: histogram of per-simu-note strength (notes in it);
- ``notes_per_bar``: histogram of notes (or chords) per 4/4 bar.

The video-to-control mapping (timeline) matches percentiles of video motion to these tables, so
a fast video asks for densities the model has seen in the training data, in the same proportions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from symbolic_v2m.data.prepare import MANIFEST, SPLITS, load_stage_arrays
from symbolic_v2m.errors import InputError
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.vocab import MAX_BAR_TICKS, MAX_STRENGTH, stage_spec

CALIBRATION_FILE = "calibration.json"
#: Histograms of notes per bar stop here (the last bin counts everything above).
MAX_NOTES_PER_BAR = 64


def _bar_index(types: np.ndarray, bar_type: int) -> np.ndarray:
    """For each token, the running number of the bar it belongs to (0-based)."""
    return np.cumsum(types == bar_type) - 1


def stage_statistics(data_dir: Path, split: str, role: Role) -> dict:
    """Counts and control histograms for one stage of one split."""
    arrays = load_stage_arrays(data_dir, split, role)
    spec = stage_spec(role)
    col = spec.column
    tokens = arrays.tokens.astype(np.int64)
    types = tokens[:, 0]
    bar_t = spec.type_index("bar")
    event_t = spec.type_index("chord" if role is Role.CHORD else "note")
    is_bar = types == bar_t
    meters = spec.family("meter")
    density_by_meter: dict[str, list[int]] = {}
    for index, meter in enumerate(meters.values, 1):
        rows = is_bar & (tokens[:, col["meter"]] == index)
        if rows.any():
            values = tokens[rows, col["density"]] - 1  # index -> density value
            density_by_meter[str(meter)] = np.bincount(values, minlength=MAX_BAR_TICKS + 1).tolist()
    stats = {
        "songs": len(arrays),
        "tokens": int(len(tokens)),
        "bars": int(is_bar.sum()),
        "events": int((types == event_t).sum()),
        "density": density_by_meter,
    }
    # notes (chords) per 4/4 bar: count event tokens between consecutive bar tokens
    bar_of = _bar_index(types, bar_t)
    per_bar = np.bincount(bar_of[types == event_t], minlength=int(is_bar.sum()))
    four_four = tokens[is_bar, col["meter"]] == meters.index(meters.values[3])
    counts = np.minimum(per_bar[: int(is_bar.sum())][four_four], MAX_NOTES_PER_BAR)
    stats["notes_per_bar"] = np.bincount(counts, minlength=MAX_NOTES_PER_BAR + 1).tolist()
    stats["notes_per_bar_mean"] = float(counts.mean()) if counts.size else 0.0
    if "strength" in col:
        pos = types == spec.type_index("pos")
        values = tokens[pos, col["strength"]]  # index = strength value (values start at 1)
        stats["strength"] = np.bincount(values, minlength=MAX_STRENGTH + 1)[1:].tolist()
        stats["strength_mean"] = float(values.mean()) if values.size else 0.0
    return stats


@dataclass(frozen=True)
class DatasetStats:
    """Per split and stage statistics of a prepared dataset."""

    corpus: str
    representation: str
    by_split: dict[str, dict[str, dict]]
    excluded: int
    skipped: int

    def calibration(self) -> dict:
        """The train split's control tables, as the package's calibration file stores them."""
        return {
            "corpus": self.corpus,
            "split": "train",
            "representation": self.representation,
            "stages": {
                role: {k: v for k, v in s.items() if k in ("density", "strength", "notes_per_bar")}
                for role, s in self.by_split["train"].items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                "corpus": self.corpus,
                "representation": self.representation,
                "excluded": self.excluded,
                "skipped": self.skipped,
                "splits": self.by_split,
            },
            indent=1,
        )


def dataset_statistics(data_dir: Path) -> DatasetStats:
    """Statistics of every split and stage of the prepared dataset in ``data_dir``."""
    manifest_path = Path(data_dir) / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{data_dir}: not a prepared dataset (run 'symbolic-v2m dataset prepare')")
    manifest = json.loads(manifest_path.read_text())
    by_split = {
        split: {role.value: stage_statistics(data_dir, split, role) for role in Role}
        for split in SPLITS
    }
    return DatasetStats(
        manifest["corpus"],
        manifest["representation"],
        by_split,
        len(manifest["excluded"]),
        len(manifest["skipped"]),
    )


def load_calibration() -> dict:
    """The calibration tables shipped in the package (POP909 train split)."""
    text = resources.files("symbolic_v2m.data").joinpath(CALIBRATION_FILE).read_text()
    return json.loads(text)
