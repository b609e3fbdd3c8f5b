"""Training data: corpus adapters (POP909 first), quantisation, token caches, splits, statistics.

Entry point: :func:`prepare_corpus` (corpus -> cached token arrays per stage and split).
"""

from symbolic_v2m.data.corpus import Corpus, Song
from symbolic_v2m.data.grid import BeatGrid, QuantisationStats, quantise_notes
from symbolic_v2m.data.pop909 import Pop909
from symbolic_v2m.data.prepare import (
    SPLITS,
    PrepareConfig,
    PrepareResult,
    StageArrays,
    default_split_path,
    load_split,
    load_stage_arrays,
    prepare_corpus,
    representation_fingerprint,
)
from symbolic_v2m.data.stats import DatasetStats, dataset_statistics, load_calibration

__all__ = [
    "SPLITS",
    "BeatGrid",
    "Corpus",
    "DatasetStats",
    "Pop909",
    "PrepareConfig",
    "PrepareResult",
    "QuantisationStats",
    "Song",
    "StageArrays",
    "dataset_statistics",
    "default_split_path",
    "load_calibration",
    "load_split",
    "load_stage_arrays",
    "prepare_corpus",
    "quantise_notes",
    "representation_fingerprint",
]
