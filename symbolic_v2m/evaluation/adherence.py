"""Control adherence: did the music do what the timeline asked, read back from the MIDI file.

    >>> project = load_project(Path("clip.v2m.json"))       # doctest: +SKIP
    >>> adherence(read_piece(Path("clip.mid")), project)   # doctest: +SKIP
    {'melody_density_error': 0.0, 'melody_density_exact': 1.0, ...}

The project file says what was asked: a density class per bar for the melody and the
accompaniment (the number of 16th-note ticks in the bar on which a note starts), and a strength
per forced tick of the accompaniment (the number of notes starting there). The MIDI file says
what was written: each track is matched to its role by the name the project recorded, its note
onsets are placed on the composition's tick grid with the project's tempo map, and the same
counts are taken. Notes edited in a DAW after composing count as written.

Errors are CMT's normalised L2 (Di et al. 2021, their Table 2; density 0.107 and strength 0.001
there): ``||realised - requested||_2 / ||requested||_2`` over bars (density) or forced ticks
(strength), so 0 is perfect and a part that wrote nothing scores 1. ``*_exact`` is the share of
bars or ticks met exactly.
"""

from __future__ import annotations

import numpy as np

from symbolic_v2m.evaluation.piece import Piece
from symbolic_v2m.music.score import TICKS_PER_BEAT, TempoMap, TimeSignature
from symbolic_v2m.music.vocab import MAX_STRENGTH
from symbolic_v2m.project import Project

ADHERENCE_ROLES = ("melody", "accompaniment")


def _normalised_l2(realised: np.ndarray, requested: np.ndarray) -> float:
    norm = float(np.linalg.norm(requested))
    if norm == 0:
        return float(np.linalg.norm(realised) > 0)
    return float(np.linalg.norm(realised - requested) / norm)


def adherence(piece: Piece, project: Project) -> dict[str, float]:
    """Density error / exact share per role and strength error / exact share (module doc).

    Roles whose track is not in the MIDI are left out of the result.
    """
    timeline = project.timeline
    tempo = TempoMap(tuple((int(t), float(s)) for t, s in timeline["tempo"]))
    bar_starts = np.cumsum(
        [0] + [TimeSignature.parse(m).ticks(TICKS_PER_BEAT) for m in timeline["meters"]]
    )
    names = {t["name"].strip().lower(): t["role"] for t in project.tracks}
    result: dict[str, float] = {}
    ticks_by_role: dict[str, np.ndarray] = {}
    for index, name in enumerate(piece.tracks):
        role = names.get(name.strip().lower())
        if role not in ADHERENCE_ROLES:
            continue
        notes = piece.notes[(piece.notes[:, 4] == index) & (piece.notes[:, 5] == 0)]
        ticks = np.array([round(tempo.tick(s)) for s in notes[:, 0]], dtype=np.int64)
        ticks_by_role[role] = np.concatenate([ticks_by_role.get(role, np.zeros(0, int)), ticks])
    for role in ADHERENCE_ROLES:
        if role not in ticks_by_role:
            continue
        requested = np.asarray(timeline["density"][role], dtype=float)
        onset_ticks = np.unique(ticks_by_role[role])
        realised = np.histogram(onset_ticks, bins=bar_starts)[0].astype(float)
        result[f"{role}_density_error"] = _normalised_l2(realised, requested)
        result[f"{role}_density_exact"] = float(np.mean(realised == requested))
    forced = np.asarray(timeline["strength"], dtype=np.int64).reshape(-1, 2)
    if "accompaniment" in ticks_by_role and len(forced):
        counts = np.bincount(ticks_by_role["accompaniment"], minlength=int(bar_starts[-1]) + 1)
        realised = counts[np.clip(forced[:, 0], 0, len(counts) - 1)].astype(float)
        # the top strength class means "that many or more" (the vocabulary clamps there)
        realised = np.minimum(realised, MAX_STRENGTH)
        requested = forced[:, 1].astype(float)
        result["strength_error"] = _normalised_l2(realised, requested)
        result["strength_exact"] = float(np.mean(realised == requested))
    return result
