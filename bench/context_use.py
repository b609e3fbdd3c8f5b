"""What each stage's model takes from its context: validation loss with the context shuffled.

    python bench/context_use.py [--data data/pop909] [--split valid]
                                [--chord W] [--melody W] [--accompaniment W]
                                [--history 16] [--seed 0] [--json OUT]

A model that uses a kind of context loses when that context is replaced by a plausible one that
has nothing to do with the music it predicts. Per stage (default: the shipped weights), over
every window of the split, the per-family loss is measured with:

- ``real``: the prepared tokens as they are;
- ``chord shuffled`` (melody, accompaniment): the chord context families of every token taken
  from another song of the split (a fixed derangement) at the same tick, moved into this song's
  key (same scale degrees), so that only the fit to this music is lost;
- ``melody shuffled`` (accompaniment): the melody context families the same way;
- ``history shuffled``: the stage's own pitch history (note pitches; chord roots, qualities and
  basses for the chord stage) with every note's *input* value replaced by that of a random one
  of the ``--history`` notes before it. Only earlier values are drawn, so no future note leaks
  into the input; the targets stay the real tokens. What is lost is which pitch came last and
  in what order: a model that reads its melodic line loses, one that guesses from key, chord
  and position does not.

The table gives each condition's loss of the stage's main family (pitch; root for the chord
stage) and the mean over families, and the difference from ``real``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from symbolic_v2m.data.prepare import StageArrays, load_stage_arrays
from symbolic_v2m.model import CPTransformer, default_model, load_model
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.vocab import StageSpec

MAIN_FAMILY = {Role.CHORD: "root", Role.MELODY: "pitch", Role.ACCOMPANIMENT: "pitch"}
CONTEXT_GROUPS = {
    "chord": ("chord_root", "chord_quality", "chord_bass"),
    "melody": ("melody_pitch", "melody_onset"),
}
HISTORY_FAMILIES = {
    Role.CHORD: ("root", "quality", "bass"),
    Role.MELODY: ("pitch",),
    Role.ACCOMPANIMENT: ("pitch",),
}


def _tonic(spec: StageSpec, key_index: np.ndarray) -> np.ndarray:
    """Tonic pitch class of each key index (0 where no key)."""
    key = spec.family("key")
    table = np.array([0] + [tonic for tonic, _ in key.values])
    return table[key_index]


def _fold(semitones: np.ndarray) -> np.ndarray:
    """Intervals folded into -5..6 (the nearest register)."""
    return (semitones + 5) % 12 - 5


def context_from(
    spec: StageSpec, group: str, tokens: np.ndarray, ticks: np.ndarray, donor: tuple
) -> np.ndarray:
    """``tokens`` (T, F) with the ``group`` context columns taken from the donor song at the
    same tick (wrapping round its length), moved from the donor's key into this song's."""
    donor_tokens, donor_ticks = donor
    out = tokens.copy()
    length = int(donor_ticks[-1]) + 1
    at = np.searchsorted(donor_ticks, ticks % length, side="right") - 1
    at = np.clip(at, 0, len(donor_ticks) - 1)
    key = spec.column["key"]
    interval = _tonic(spec, tokens[:, key]) - _tonic(spec, donor_tokens[at, key])
    for name in CONTEXT_GROUPS[group]:
        c = spec.column[name]
        values = donor_tokens[at, c].astype(np.int64)
        how = spec.family(name).transposes
        used = values > 0
        if how == "pitch_class":
            values = np.where(used, (values - 1 + interval) % 12 + 1, 0)
        elif how == "pitch":
            values = np.where(used, np.clip(values + _fold(interval), 1, 128), 0)
        out[:, c] = values
    return out


def history_shuffled(
    spec: StageSpec, tokens: np.ndarray, window: int, rng: np.random.Generator
) -> np.ndarray:
    """``tokens`` with each event's own pitch-like values replaced by those of a random one of
    the ``window`` events before it (the first event keeps its own)."""
    out = tokens.copy()
    kind = "chord" if spec.role is Role.CHORD else "note"
    events = np.flatnonzero(tokens[:, 0] == spec.type_index(kind))
    columns = [spec.column[n] for n in HISTORY_FAMILIES[spec.role]]
    for n in range(1, len(events)):
        source = events[rng.integers(max(0, n - window), n)]
        out[events[n], columns] = tokens[source, columns]
    return out


@torch.no_grad()
def window_losses(
    model: CPTransformer, inputs: list[np.ndarray], targets: list[np.ndarray], ticks: list
) -> dict[str, float]:
    """Per-family mean loss over windows: the model reads ``inputs``, is scored on ``targets``."""
    width = len(model.spec.families)
    sums: dict[str, list[float]] = {}
    batch = 16
    for i in range(0, len(inputs), batch):
        chunk = range(i, min(i + batch, len(inputs)))
        length = max(len(inputs[j]) for j in chunk)
        x = np.zeros((len(chunk), length, width), dtype=np.int64)
        y = np.zeros_like(x)
        k = np.zeros((len(chunk), length), dtype=np.int64)
        for b, j in enumerate(chunk):
            n = len(inputs[j])
            x[b, :n], y[b, :n], k[b, :n] = inputs[j], targets[j], ticks[j]
            k[b, n:] = ticks[j][-1]
        # the predicted token's own type and given families are the real ones in every
        # condition: only the context the model reads is altered
        logits = model(torch.from_numpy(x), torch.from_numpy(k), targets=torch.from_numpy(y))
        _, report = model.loss_from_logits(logits, torch.from_numpy(y))
        for name, (loss, _, count) in report.items():
            s = sums.setdefault(name, [0.0, 0])
            s[0] += loss
            s[1] += count
    return {name: s[0] / s[1] for name, s in sums.items()}


def context_use(
    model: CPTransformer, arrays: StageArrays, history: int = 16, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per-family losses of ``model`` on ``arrays`` under each condition (see module doc)."""
    model.eval()
    spec = model.spec
    seq_len = model.config.max_context
    rng = np.random.default_rng(seed)
    n = len(arrays)
    donors = (np.arange(n) + 1 + rng.integers(n - 1)) % n  # a derangement: never itself
    songs = [arrays.song(i) for i in range(n)]
    conditions = ["real"]
    conditions += [
        f"{g} shuffled" for g, names in CONTEXT_GROUPS.items() if names[0] in spec.column
    ]
    conditions.append("history shuffled")
    results = {}
    for condition in conditions:
        inputs, targets, ticks = [], [], []
        for i, (tokens, song_ticks) in enumerate(songs):
            seen = tokens
            if condition.endswith("shuffled") and condition != "history shuffled":
                group = condition.split()[0]
                seen = context_from(spec, group, tokens, song_ticks, songs[donors[i]])
            elif condition == "history shuffled":
                seen = history_shuffled(spec, tokens, history, rng)
            for start in range(0, max(len(tokens) - 1, 1), seq_len):
                stop = start + seq_len + 1
                inputs.append(seen[start:stop])
                targets.append(tokens[start:stop])
                ticks.append(song_ticks[start:stop])
        results[condition] = window_losses(model, inputs, targets, ticks)
    return results


def table(stage: Role, results: dict[str, dict[str, float]], with_stage: bool = True) -> list[str]:
    """Markdown rows: (stage,) condition, main-family loss and its change, mean loss and its
    change."""
    main = MAIN_FAMILY[stage]
    real = results["real"]
    rows = []
    for condition, losses in results.items():
        mean = float(np.mean(list(losses.values())))
        real_mean = float(np.mean(list(real.values())))
        rows.append(
            (f"| {stage.value} " if with_stage else "") + f"| {condition} | {losses[main]:.3f} "
            f"| {losses[main] - real[main]:+.3f} | {mean:.3f} | {mean - real_mean:+.3f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/pop909"))
    parser.add_argument("--split", default="valid")
    for role in Role:
        parser.add_argument(f"--{role.value}", type=Path, help=f"{role.value} weights")
    parser.add_argument("--stages", default="chord,melody,accompaniment")
    parser.add_argument("--history", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = {}
    print("| stage | condition | main-family loss | change | mean loss | change |")
    print("|---|---|---|---|---|---|")
    for name in args.stages.split(","):
        role = Role(name)
        weights = getattr(args, role.value)
        model = load_model(weights, "cpu") if weights else default_model(role, "cpu")
        arrays = load_stage_arrays(args.data, args.split, role)
        results = context_use(model, arrays, args.history, args.seed)
        out[role.value] = results
        print("\n".join(table(role, results)), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
