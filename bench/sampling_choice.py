"""Choose per-family sampling on POP909's validation split: the music metrics' gaps to real songs.

    python bench/sampling_choice.py NAME [--split valid] [--songs N] [--bars 32]
                                    [--temperature FAMILY=T ...] [--top-p FAMILY=P ...]
                                    [--default-top-p P] [--melody-temperature FAMILY=T ...]
                                    [--scale-lock soft|strict|off] [--scale-lock-penalty P]
                                    [--chord-tone-bonus B] [--json DIR]

The same procedure as ``bench/quality.py``'s POP909 part, through its ``generate_like`` (each
song's first bars, its meters, tempo map, key, phrases and per-bar densities as the controls,
compose's default theory biases unless ``--scale-lock`` / ``--scale-lock-penalty`` /
``--chord-tone-bonus`` say otherwise, two candidates), with the sampling given here instead of
the defaults, on the validation split by default: tune here, then measure once on the test
split with ``bench/quality.py``.
``--temperature`` and ``--top-p`` replace the per-family defaults (none given: every family at
``--default-top-p`` and temperature 1); ``--melody-temperature`` gives the melody stage its own
temperatures. Prints one line of gaps (generated minus real) and writes ``DIR/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import SHARED, crop, generate_like  # noqa: E402

from symbolic_v2m.compose import ComposeConfig  # noqa: E402
from symbolic_v2m.data import Pop909, default_split_path, load_split  # noqa: E402
from symbolic_v2m.errors import DataError  # noqa: E402
from symbolic_v2m.evaluation import piece_from_score  # noqa: E402
from symbolic_v2m.evaluation.music import mean_metrics  # noqa: E402
from symbolic_v2m.model import SamplingConfig, default_model  # noqa: E402
from symbolic_v2m.music import Role  # noqa: E402

SHOWN = (
    "pitch_class_entropy",
    "scale_consistency",
    "empty_beat_rate",
    "grooving_similarity",
    "polyphony",
    "notes_per_bar",
)


def settings(pairs: list[str]) -> dict[str, float]:
    """``["pitch=1.0", ...]`` -> ``{"pitch": 1.0, ...}``."""
    out = {}
    for pair in pairs:
        family, _, value = pair.partition("=")
        out[family] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--songs", type=int, default=None)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--temperature", nargs="*", default=[], metavar="FAMILY=T")
    parser.add_argument("--top-p", nargs="*", default=[], metavar="FAMILY=P")
    parser.add_argument("--default-top-p", type=float, default=0.95)
    parser.add_argument("--melody-temperature", nargs="*", default=None, metavar="FAMILY=T")
    parser.add_argument("--pop909", type=Path, default=SHARED / "datasets/pop909")
    parser.add_argument("--scale-lock", default=ComposeConfig.scale_lock)
    parser.add_argument(
        "--scale-lock-penalty", type=float, default=ComposeConfig.scale_lock_penalty
    )
    parser.add_argument("--chord-tone-bonus", type=float, default=ComposeConfig.chord_tone_bonus)
    parser.add_argument("--json", type=Path, help="write DIR/NAME.json")
    args = parser.parse_args()
    biases = ComposeConfig(
        scale_lock=args.scale_lock,
        scale_lock_penalty=args.scale_lock_penalty,
        chord_tone_bonus=args.chord_tone_bonus,
    )
    common = SamplingConfig(
        temperature=settings(args.temperature),
        top_p=settings(args.top_p),
        default_top_p=args.default_top_p,
    )
    sampling = {role: common for role in Role}
    if args.melody_temperature is not None:
        sampling[Role.MELODY] = SamplingConfig(
            temperature=settings(args.melody_temperature),
            top_p=common.top_p,
            default_top_p=args.default_top_p,
        )
    corpus = Pop909(args.pop909)
    models = {role: default_model(role.value, "cpu") for role in Role}
    ids = load_split(default_split_path("pop909"))[args.split][: args.songs]
    real, ours = [], []
    started = time.perf_counter()
    for i, song_id in enumerate(ids):
        try:
            score = crop(corpus.load(song_id).score, args.bars)
        except DataError as err:
            print(f"  POP909 {song_id} skipped: {err}", file=sys.stderr)
            continue
        real.append(piece_from_score(score))
        ours.append(piece_from_score(generate_like(score, models, i, biases, sampling)))
    r, o = mean_metrics(real), mean_metrics(ours)
    gaps = {k: o[k] - r[k] for k in r}
    seconds = time.perf_counter() - started
    print(args.name, " ".join(f"{k}={gaps[k]:+.3f}" for k in SHOWN), f"({len(real)} songs)")
    if args.json:
        args.json.mkdir(parents=True, exist_ok=True)
        record = {"args": vars(args), "songs": len(real), "seconds": seconds, "real": r}
        record |= {"ours": o, "gap": gaps}
        (args.json / f"{args.name}.json").write_text(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
