"""How much the melody tells about the accompaniment's pitches in POP909, beyond the chord.

    python bench/melody_information.py [--data data/pop909] [--json OUT]

``bench/context_use.py`` finds that the accompaniment model loses only ~0.01 nats of pitch loss
when its melody context is shuffled. Is the model blind, or is there little to see? This
measures the data, with no neural model: count models of the accompaniment note's pitch (in
its key's frame, tonic on C) are fitted on the train split and scored on the valid split
(cross-entropy in nats, the unit of the validation loss), with one melody feature (the melody
note sounding at the same tick, as the model's context carries it) and with the same feature
permuted across notes:

- given the chord sounding (mode, root, quality, bass, all relative to the key);
- given the chord and the accompaniment's previous pitch (a one-note stand-in for history).

Each count model is interpolated with the next coarser one by absolute discounting (the note
alone, the chord, the chord and previous pitch, then the feature). A finer context costs
held-out loss by sparsity alone, so the real feature is compared with its permuted copy, which
has the same values and sparsity and no link to the notes: the difference is the information
a model could learn from the feature and use on unseen songs. The plug-in mutual information on
the training split is printed beside it to show how far an in-sample figure overstates it.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from symbolic_v2m.data.prepare import load_stage_arrays
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.vocab import stage_spec

NO_MELODY = -99
#: absolute discount of the count models (the usual 0.75 of interpolated Kneser-Ney smoothing)
DISCOUNT = 0.75


def note_features(data: Path, split: str) -> dict[str, np.ndarray]:
    """Per accompaniment note: pitch, chord, previous pitch and melody features, key-relative."""
    spec = stage_spec(Role.ACCOMPANIMENT)
    col = spec.column
    arrays = load_stage_arrays(data, split, Role.ACCOMPANIMENT)
    song = np.repeat(np.arange(len(arrays)), np.diff(arrays.offsets))
    is_note = arrays.tokens[:, col["type"]] == spec.type_index("note")
    tokens, song = arrays.tokens[is_note], song[is_note]
    key = spec.family("key")
    tonic = np.array([0] + [t for t, _ in key.values])[tokens[:, col["key"]]]
    minor = np.array([0] + [m == "minor" for _, m in key.values])[tokens[:, col["key"]]]

    def pitch_class(name: str) -> np.ndarray:  # chord families: index 0 means none -> 12
        v = tokens[:, col[name]]
        return np.where(v > 0, (v - 1 - tonic) % 12, 12)

    pitch = tokens[:, col["pitch"]] - 1 - tonic
    melody = tokens[:, col["melody_pitch"]] - 1
    melody = np.where(melody >= 0, melody - tonic, NO_MELODY)
    first = np.r_[True, song[1:] != song[:-1]]
    quality = tokens[:, col["chord_quality"]]
    chord = np.stack([minor, pitch_class("chord_root"), quality, pitch_class("chord_bass")], 1)
    return {
        "pitch": pitch,
        "chord": chord,
        "previous": np.where(first, NO_MELODY, np.r_[0, pitch[:-1]]),
        "melody pitch": melody,
        "melody pitch class": np.where(melody > NO_MELODY, melody % 12, -1),
        "melody octave": np.where(melody > NO_MELODY, melody // 12, NO_MELODY),
        "melody sounding": (melody > NO_MELODY).astype(np.int64),
    }


def _keys(*columns: np.ndarray) -> list[tuple[int, ...]]:
    stacked = np.column_stack([c.reshape(len(c), -1) for c in columns])
    return [tuple(row) for row in stacked.tolist()]


def held_out_loss(
    train_contexts: Sequence[list[tuple[int, ...]]],
    train_y: np.ndarray,
    valid_contexts: Sequence[list[tuple[int, ...]]],
    valid_y: np.ndarray,
    vocabulary: int,
) -> float:
    """Mean -log p(y) on valid of a chain of count models (coarsest context first), each
    interpolated with the one before by absolute discounting."""
    tables = []
    for contexts in train_contexts:
        table: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        for context, y in zip(contexts, train_y.tolist(), strict=True):
            table[context][y] += 1
        tables.append({k: (v, sum(v.values())) for k, v in table.items()})
    total = 0.0
    for i, y in enumerate(valid_y.tolist()):
        p = 1.0 / vocabulary
        for table, contexts in zip(tables, valid_contexts, strict=True):
            entry = table.get(contexts[i])
            if entry is not None:
                counts, n = entry
                p = max(counts.get(y, 0) - DISCOUNT, 0) / n + DISCOUNT * len(counts) / n * p
        total -= np.log(p)
    return total / len(valid_y)


def plug_in_information(y: np.ndarray, x: np.ndarray, z: np.ndarray) -> float:
    """I(Y; X | Z) in nats from the training counts (biased upward where cells are sparse)."""

    def entropy(*columns: np.ndarray) -> float:
        _, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())

    return entropy(y, z) + entropy(x, z) - entropy(z) - entropy(x, y, z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/pop909"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train, valid = note_features(args.data, "train"), note_features(args.data, "valid")
    vocabulary = len(set(train["pitch"].tolist()) | set(valid["pitch"].tolist()))
    print(f"accompaniment notes: train {len(train['pitch'])}, valid {len(valid['pitch'])}")

    def chain(f: dict[str, np.ndarray], *extra: str) -> list[list[tuple[int, ...]]]:
        none = np.zeros(len(f["pitch"]), dtype=np.int64)
        # each level refines the one before: none, chord, chord + extra[0], ...
        return [_keys(none), _keys(f["chord"])] + [
            _keys(f["chord"], *(f[e] for e in extra[: i + 1])) for i in range(len(extra))
        ]

    def loss(*extra: str) -> float:
        return held_out_loss(
            chain(train, *extra), train["pitch"], chain(valid, *extra), valid["pitch"], vocabulary
        )

    rows = []
    rng = np.random.default_rng(0)
    for given, base_extra in (("chord", ()), ("chord + previous pitch", ("previous",))):
        for feature in ("melody pitch", "melody pitch class", "melody octave", "melody sounding"):
            real = loss(*base_extra, feature)
            # the control: the same feature with its link to the notes cut (same values, same
            # sparsity), so that the difference is information, not the cost of finer contexts
            for f in (train, valid):
                f["permuted"] = rng.permutation(f[feature])
            permuted = loss(*base_extra, "permuted")
            z = np.column_stack([train["chord"], *(train[e] for e in base_extra)])
            rows.append(
                {
                    "given": given,
                    "feature": feature,
                    "valid_loss": round(real, 4),
                    "valid_loss_permuted": round(permuted, 4),
                    "held_out_information": round(permuted - real, 4),
                    "train_plug_in_information": round(
                        plug_in_information(train["pitch"], train[feature], z), 4
                    ),
                }
            )
    print(
        "| given | melody feature | valid loss | feature permuted | held-out information "
        "| train plug-in MI |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['given']} | {r['feature']} | {r['valid_loss']:.3f} | "
            f"{r['valid_loss_permuted']:.3f} | {r['held_out_information']:+.3f} | "
            f"{r['train_plug_in_information']:.3f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
