"""The evaluate job: a MIDI file judged on its own, against a reference set, a video, a project.

    >>> config = EvaluateConfig(video=Path("clip.mp4"))
    >>> report = evaluate(Path("clip.mid"), config)      # doctest: +SKIP
    >>> report.video_fit["cut_downbeat_recall"]          # doctest: +SKIP
    1.0

Everything is computed from files: the MIDI on its own tempo map, the video analysed afresh,
the reference songs read from disk. So the same command judges any system's output.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from symbolic_v2m.errors import ConfigError, DataError, InputError
from symbolic_v2m.evaluation.adherence import adherence
from symbolic_v2m.evaluation.music import mean_metrics, music_metrics
from symbolic_v2m.evaluation.piece import Piece, piece_from_score, read_piece
from symbolic_v2m.evaluation.video_fit import video_fit

log = logging.getLogger(__name__)

#: ``--reference`` value that means the POP909 test split (needs the corpus folder)
POP909_TEST = "pop909-test"


@dataclass(frozen=True)
class EvaluateConfig:
    """What to judge the MIDI against; each part is optional.

    Attributes:
        video: a video to measure the fit to (analysed afresh).
        project: the ``.v2m.json`` the MIDI was composed from (control adherence).
        reference: a folder of ``.mid`` files, or :data:`POP909_TEST`.
        pop909: the POP909 folder (``001/`` ... ``909/``), needed for :data:`POP909_TEST`.
    """

    video: Path | None = None
    project: Path | None = None
    reference: str | None = None
    pop909: Path | None = None

    def __post_init__(self) -> None:
        if self.reference == POP909_TEST and self.pop909 is None:
            raise ConfigError(
                f"--reference {POP909_TEST} needs the POP909 folder: give --pop909 DIR"
            )


@dataclass(frozen=True)
class Evaluation:
    """Metric name -> value, per group; a group is empty when it was not asked for."""

    midi: str
    music: dict[str, float]
    reference: dict[str, float] = field(default_factory=dict)
    reference_name: str = ""
    reference_size: int = 0
    video_fit: dict[str, float] = field(default_factory=dict)
    adherence: dict[str, float] = field(default_factory=dict)

    def gaps(self) -> dict[str, float]:
        """Per music metric, ours minus the reference's (empty without a reference)."""
        return {k: v - self.reference[k] for k, v in self.music.items() if k in self.reference}

    def to_dict(self) -> dict:
        """JSON-ready (NaN becomes null)."""

        def clean(d: dict[str, float]) -> dict[str, float | None]:
            return {k: None if math.isnan(v) else v for k, v in d.items()}

        return {
            "midi": self.midi,
            "music": clean(self.music),
            "reference": {
                "name": self.reference_name,
                "size": self.reference_size,
                "metrics": clean(self.reference),
                "gap": clean(self.gaps()),
            }
            if self.reference_name
            else None,
            "video_fit": clean(self.video_fit) or None,
            "adherence": clean(self.adherence) or None,
        }


def reference_pieces(
    reference: str, pop909: Path | None = None, warn: Callable[[str], None] = log.warning
) -> list[Piece]:
    """The reference set: every ``.mid`` under a folder, or the POP909 test split's songs on
    their annotated beat grid. Unreadable files are skipped with a warning."""
    pieces: list[Piece] = []
    if reference == POP909_TEST:
        from symbolic_v2m.data import Pop909, default_split_path, load_split

        root = Path(pop909)
        if not root.is_dir():
            raise InputError(f"{root}: POP909 folder not found")
        corpus = Pop909(root)
        for song_id in load_split(default_split_path("pop909"))["test"]:
            try:
                pieces.append(piece_from_score(corpus.load(song_id).score))
            except DataError as err:
                warn(f"reference song skipped: {err}")
        return pieces
    folder = Path(reference)
    if not folder.is_dir():
        raise InputError(f"{folder}: reference folder not found (or use {POP909_TEST})")
    for path in sorted(folder.rglob("*.mid")):
        try:
            pieces.append(read_piece(path))
        except InputError as err:
            warn(f"reference file skipped: {err}")
    if not pieces:
        raise InputError(f"{folder}: no readable .mid files in the reference folder")
    return pieces


def evaluate(
    midi: Path, config: EvaluateConfig | None = None, warn: Callable[[str], None] = log.warning
) -> Evaluation:
    """Judge the MIDI file ``midi``: music metrics always; against a reference set, a video and
    a project file when ``config`` names them.

    Raises:
        InputError: an input file is missing or unreadable.
    """
    config = config or EvaluateConfig()
    piece = read_piece(Path(midi))
    reference: dict[str, float] = {}
    size = 0
    if config.reference:
        pieces = reference_pieces(config.reference, config.pop909, warn)
        reference, size = mean_metrics(pieces), len(pieces)
    fit: dict[str, float] = {}
    if config.video is not None:
        from symbolic_v2m.video import analyze_video

        fit = video_fit(piece, analyze_video(config.video))
    controls: dict[str, float] = {}
    if config.project is not None:
        from symbolic_v2m.project import load_project

        controls = adherence(piece, load_project(config.project))
    return Evaluation(
        str(midi),
        music_metrics(piece),
        reference,
        config.reference or "",
        size,
        fit,
        controls,
    )
