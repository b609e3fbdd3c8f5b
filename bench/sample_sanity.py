"""Sanity of the trained stages: unconditional chains chord -> melody -> accompaniment.

    python bench/sample_sanity.py [--chord W] [--melody W] [--accompaniment W] [--pieces 8]
                                  [--bars 32] [--out DIR]

Each piece: 32 bars of 4/4 in a random key, a phrase every 8 bars, no video controls (the models
sample their own densities and strengths). The chord stage writes chords, the melody stage a
melody over them, the accompaniment stage the accompaniment over both. Metrics
(:mod:`symbolic_v2m.evaluation.metrics`) are compared with the POP909 test split. With ``--out``
the pieces are written as MIDI (pretty_midi) for listening.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from symbolic_v2m.data import Pop909, default_split_path, load_split
from symbolic_v2m.evaluation.metrics import music_metrics
from symbolic_v2m.model import Constraints, SamplingConfig, default_model, generate, load_model
from symbolic_v2m.music import (
    KeyChange,
    Score,
    StageContext,
    TempoMap,
    TimeSignature,
    decode_part,
)
from symbolic_v2m.music.chords import chord_pitch_classes

HERE = Path(__file__).resolve().parents[1]


def chain(models: dict, n_bars: int, seed: int) -> Score:
    """One piece through the three stages with no controls."""
    rng = np.random.default_rng(seed)
    meters = (TimeSignature(4, 4),) * n_bars
    keys = (KeyChange(0, int(rng.integers(12)), str(rng.choice(["major", "minor"]))),)
    phrases = tuple(range(8, n_bars, 8))
    sampling = SamplingConfig()
    ctx = StageContext.build(meters, keys, phrases)
    chords = decode_part(
        generate(models["chord"], ctx, Constraints(meters), sampling, seed=seed)[0]
    ).events
    ctx = StageContext.build(meters, keys, phrases, chords)
    melody = decode_part(
        generate(models["melody"], ctx, Constraints(meters), sampling, seed=seed)[0]
    ).events
    ctx = StageContext.build(meters, keys, phrases, chords, melody)
    accompaniment = decode_part(
        generate(models["accompaniment"], ctx, Constraints(meters), sampling, seed=seed)[0]
    ).events
    return Score(
        meters, TempoMap.constant(100), keys, chords, melody, accompaniment, phrases
    ).normalised()


def write_midi(score: Score, path: Path) -> None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    for name, notes, program in (
        ("melody", score.melody, 73),
        ("accompaniment", score.accompaniment, 0),
    ):
        inst = pretty_midi.Instrument(program=program, name=name)
        for n in notes:
            inst.notes.append(
                pretty_midi.Note(
                    n.velocity, n.pitch, score.seconds(n.onset), score.seconds(n.offset)
                )
            )
        midi.instruments.append(inst)
    midi.write(str(path))


def chord_tone_share(score: Score) -> float:
    """Share of melody notes whose pitch class belongs to the chord sounding at their onset."""
    hits = [
        n.pitch % 12 in chord_pitch_classes(c.root, c.quality, c.bass)
        for n in score.melody
        if (c := score.chord_at(n.onset)) is not None and c.quality != "N"
    ]
    return float(np.mean(hits)) if hits else float("nan")


def mean_metrics(scores: list[Score]) -> dict[str, dict[str, float]]:
    per = [music_metrics(s) for s in scores]
    return {
        part: {m: float(np.mean([p[part][m] for p in per])) for m in per[0][part]}
        for part in per[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for stage in ("chord", "melody", "accompaniment"):
        parser.add_argument(f"--{stage}", type=Path, help=f"{stage} weights (default: shipped)")
    parser.add_argument("--pieces", type=int, default=8)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--pop909", type=Path, default=HERE.parent / "shared/datasets/pop909")
    parser.add_argument("--out", type=Path, help="write the pieces as MIDI here")
    parser.add_argument("--json", type=Path, help="write the description and table here")
    args = parser.parse_args()
    models = {
        stage: load_model(getattr(args, stage), "cpu")
        if getattr(args, stage)
        else default_model(stage, "cpu")
        for stage in ("chord", "melody", "accompaniment")
    }
    started = time.perf_counter()
    pieces = [chain(models, args.bars, seed) for seed in range(args.pieces)]
    seconds = time.perf_counter() - started
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for i, score in enumerate(pieces):
            write_midi(score, args.out / f"sample_{i}.mid")
    corpus = Pop909(args.pop909)
    test = [corpus.load(s).score for s in load_split(default_split_path("pop909"))["test"]]
    ours, real = mean_metrics(pieces), mean_metrics(test)
    chords_per_bar = np.mean([len(s.chords) / s.n_bars for s in pieces])
    real_chords = np.mean([len(s.chords) / s.n_bars for s in test])
    sampling = SamplingConfig()
    description = (
        f"{args.pieces} unconditional pieces of {args.bars} bars of 4/4 (random key, a phrase "
        f"every 8 bars, no controls; chord -> melody -> accompaniment with the default sampling: "
        f"temperature {sampling.default_temperature:g} ({sampling.temperature}), top-p "
        f"{sampling.default_top_p:g} ({sampling.top_p})), written in {seconds:.0f} s on CPU, "
        f"against the "
        f"{len(test)} songs of the POP909 test split. Command: `python bench/sample_sanity.py`."
    )
    table = ["| part | metric | generated | POP909 test |", "|---|---|---|---|"]
    for part in ("melody", "accompaniment", "all"):
        for metric in ours[part]:
            table.append(
                f"| {part} | {metric} | {ours[part][metric]:.3f} | {real[part][metric]:.3f} |"
            )
    table.append(f"| chord | chords_per_bar | {chords_per_bar:.3f} | {real_chords:.3f} |")
    table.append(
        "| melody | share of notes in the sounding chord | "
        f"{np.nanmean([chord_tone_share(s) for s in pieces]):.3f} | "
        f"{np.nanmean([chord_tone_share(s) for s in test]):.3f} |"
    )
    print(description)
    print("\n".join(table))
    if args.json:
        args.json.write_text(json.dumps({"description": description, "table": table}, indent=1))


if __name__ == "__main__":
    main()
