"""Quality benchmark: our music and its fit to video, against real data and the anchors.

    python bench/quality.py [--songs N] [--bars 32] [--pop909 DIR] [--videos DIR]
                            [--out DIR] [--json FILE] [--weights DIR]

Two parts, both judged by ``symbolic_v2m.evaluation`` from the written files:

1. **Videos.** Compose (default weights, MIDI + project file) for synthetic clips with known
   cuts and varied motion, and for every clip in ``../shared/videos``; report cut-on-beat and
   cut-on-downbeat recall, the density-speed correlation, strong visual beats met, the length
   mismatch, and control adherence.
2. **POP909 test conditions.** For the songs of the test split (all, or the first ``--songs``;
   songs the adapter excludes or cannot read are skipped with a note), their first
   ``--bars`` bars: the three stages generate chords, melody and accompaniment under the real
   song's meters, tempo map, key, phrase starts and per-bar densities (what a video's timeline
   would give them), once with compose's default theory biases and once with none (scale lock
   off, no chord-tone bonus: the models alone). The music metrics of the generated and the real
   pieces are compared, and our gap is printed beside the published gaps of CMT and V-MusProd
   (``bench/ANCHORS.md``). Each composed video's whole file (every pitched track) is measured
   for scale consistency and pitch-class entropy too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from symbolic_v2m.compose import ComposeConfig, _request, compose
from symbolic_v2m.data import Pop909, default_split_path, load_split
from symbolic_v2m.errors import DataError
from symbolic_v2m.evaluation import EvaluateConfig, evaluate, piece_from_score
from symbolic_v2m.evaluation.adherence import ADHERENCE_ROLES
from symbolic_v2m.evaluation.music import METRICS, mean_metrics
from symbolic_v2m.evaluation.video_fit import VIDEO_FIT_METRICS
from symbolic_v2m.model import SamplingConfig, default_model, load_model
from symbolic_v2m.music import Role, Score
from symbolic_v2m.music.score import clip_notes
from symbolic_v2m.music.vocab import DURATIONS
from symbolic_v2m.stages import StageConfig, write_part
from symbolic_v2m.timeline import Mood, Section, Timeline
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

#: published gaps to real data (generated minus real), bench/ANCHORS.md; None = not published
ANCHOR_GAPS = {
    "V-MusProd": {
        "scale_consistency": 0.967 - 0.965,
        "pitch_entropy": 4.070 - 4.455,
        "pitch_class_entropy": 2.774 - 2.774,
        "empty_beat_rate": 0.005 - 0.005,
        "mean_ioi": 0.171 - 0.125,
    },
    "CMT": {
        "pitch_class_entropy": 4.113 - 4.452,
        "grooving_similarity": 0.599 - 0.968,
        "structureness": 0.200 - 0.488,
    },
}


#: music metrics reported for each composed file as a whole
FILE_METRICS = ("scale_consistency", "pitch_class_entropy")
#: compose's theory biases turned off: what the models write by themselves
NO_BIASES = {"scale_lock": "off", "chord_tone_bonus": 0.0}


def synthetic_clips(folder: Path) -> list[Path]:
    """Clips with known cuts: shots a bar or more long, motion from still to fast."""
    plans = {
        "varied.mp4": (2.5, (0.0, 0.05, 0.4, 0.15, 0.6, 0.02)),
        "ramps.mp4": (4.0, (0.02, 0.3, 0.08, 0.5, 0.0)),
    }
    paths = []
    for k, (name, (seconds, speeds)) in enumerate(plans.items()):
        shots = [
            SyntheticShot(seconds, speed=s, direction=40.0 * i, seed=10 * k + i)
            for i, s in enumerate(speeds)
        ]
        paths.append(write_synthetic_clip(folder / name, shots).path)
    return paths


def video_part(videos: list[Path], out: Path, weights: Path | None) -> list[dict]:
    rows = []
    config = ComposeConfig(
        outputs=("midi", "project"), weights_dir=str(weights) if weights else None
    )
    for video in videos:
        started = time.perf_counter()
        result = compose(video, out / video.stem, config, force=True)
        report = evaluate(
            result.files["midi"], EvaluateConfig(video=video, project=result.files["project"])
        )
        rows.append(
            {
                "video": video.name,
                "seconds": time.perf_counter() - started,
                **report.video_fit,
                **report.adherence,
                # the whole file: every pitched track, bass and pad included
                **{f"file_{name}": report.music[name] for name in FILE_METRICS},
            }
        )
        print(f"  {video.name}: {rows[-1]}", file=sys.stderr)
    return rows


def crop(score: Score, n_bars: int) -> Score:
    """The first ``n_bars`` bars of a score."""
    meters = score.meters[:n_bars]
    length = sum(m.ticks(score.ticks_per_beat) for m in meters)
    return Score(
        meters,
        score.tempo,
        tuple(k for k in score.keys if k.onset < length) or score.keys[:1],
        tuple(c for c in score.chords if c.onset < length),
        clip_notes(tuple(n for n in score.melody if n.onset < length), length, DURATIONS),
        clip_notes(tuple(n for n in score.accompaniment if n.onset < length), length, DURATIONS),
        tuple(b for b in score.phrase_starts if b < len(meters)),
        score.ticks_per_beat,
    ).normalised()


def song_timeline(real: Score) -> Timeline:
    """The timeline a video would give, taken from a real song: its bars, tempo map, key,
    phrases as sections, and each part's per-bar density."""
    starts = [bar.start for bar in real.bars()] + [real.length]
    bounds = [0, *real.phrase_starts, real.n_bars]
    sections = tuple(
        Section(i, a, b, real.seconds(starts[a]), real.seconds(starts[b]))
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    )

    def density(onsets: list[int]) -> tuple[int, ...]:
        return tuple(int(x) for x in np.histogram(sorted(set(onsets)), bins=starts)[0])

    seconds = real.seconds(real.length)
    key = real.keys[0]
    qpm = 60 * real.n_bars * 4 / seconds
    return Timeline(
        duration=seconds,
        tempo=real.tempo,
        meters=real.meters,
        base_qpm=qpm,
        key=key,
        mood=Mood(0.0, 0.0, key.mode, qpm, 1.0),
        cuts=(),
        sections=sections,
        bar_speed=(0.0,) * real.n_bars,
        density={
            "chord": density([c.onset for c in real.chords if c.quality != "N"]),
            "melody": density([n.onset for n in real.melody]),
            "accompaniment": density([n.onset for n in real.accompaniment]),
        },
        strength=(),
        onsets=(),
    )


def generate_like(
    real: Score,
    models: dict,
    seed: int,
    config: ComposeConfig,
    sampling: dict[Role, SamplingConfig] | None = None,
) -> Score:
    """Chords, melody and accompaniment written under ``real``'s controls (module doc), with
    ``config``'s theory biases and each stage's ``sampling`` (default: the defaults)."""
    sampling = sampling or {}
    timeline = song_timeline(real)
    parts: dict[Role, tuple] = {}
    for offset, role in enumerate(Role):
        parts[role] = write_part(
            role,
            timeline,
            models[role],
            chords=parts.get(Role.CHORD, ()),
            melody=parts.get(Role.MELODY, ()),
            request=_request(role, config, timeline, parts),
            config=StageConfig(
                candidates=2,
                sampling=sampling.get(role, SamplingConfig()),
                seed=seed * 1000 + offset,
            ),
        ).events
    return Score(
        real.meters,
        real.tempo,
        (timeline.key,),
        parts[Role.CHORD],
        clip_notes(parts[Role.MELODY], real.length, DURATIONS),
        clip_notes(parts[Role.ACCOMPANIMENT], real.length, DURATIONS),
        real.phrase_starts,
    ).normalised()


def pop909_part(root: Path, n_songs: int | None, n_bars: int, weights: Path | None) -> dict:
    corpus = Pop909(root)
    models = {
        role: load_model(weights / f"{role.value}.safetensors", "cpu")
        if weights
        else default_model(role.value, "cpu")
        for role in Role
    }
    ids = load_split(default_split_path("pop909"))["test"][:n_songs]
    real, ours, unbiased = [], [], []
    started = time.perf_counter()
    for i, song_id in enumerate(ids):
        try:
            score = crop(corpus.load(song_id).score, n_bars)
        except DataError as err:
            print(f"  POP909 {song_id} skipped: {err}", file=sys.stderr)
            continue
        real.append(piece_from_score(score))
        ours.append(piece_from_score(generate_like(score, models, i, ComposeConfig())))
        plain = generate_like(score, models, i, ComposeConfig(**NO_BIASES))
        unbiased.append(piece_from_score(plain))
        print(f"  POP909 {song_id} ({i + 1}/{len(ids)})", file=sys.stderr)
    return {
        "songs": ids,
        "evaluated": len(real),
        "seconds": time.perf_counter() - started,
        "real": mean_metrics(real),
        "ours": mean_metrics(ours),
        "no_biases": mean_metrics(unbiased),
    }


def fmt(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def report(videos: list[dict], pop: dict | None) -> str:
    lines = ["### Video fit (composed with the default weights)", ""]
    cols = [
        *VIDEO_FIT_METRICS,
        *(f"{role}_density_error" for role in ADHERENCE_ROLES),
        "strength_error",
        *(f"file_{name}" for name in FILE_METRICS),
    ]
    lines.append("| video | " + " | ".join(cols) + " |")
    lines.append("|---" * (len(cols) + 1) + "|")
    for row in videos:
        lines.append(f"| {row['video']} | " + " | ".join(fmt(row.get(c)) for c in cols) + " |")
    if pop is not None:
        lines += [
            "",
            f"### POP909 test conditions ({pop['evaluated']} test songs, their first bars; "
            f"{pop['seconds']:.0f} s to generate)",
            "",
            "| metric | real | ours | our gap | no biases | its gap | V-MusProd gap | CMT gap "
            "| within V-MusProd's gap |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in METRICS:
            real, ours = pop["real"][name], pop["ours"][name]
            plain = pop["no_biases"][name]
            gap = ours - real
            vm = ANCHOR_GAPS["V-MusProd"].get(name)
            cmt = ANCHOR_GAPS["CMT"].get(name)
            within = "-" if vm is None else ("yes" if abs(gap) <= abs(vm) + 1e-9 else "no")
            lines.append(
                f"| {name} | {fmt(real)} | {fmt(ours)} | {fmt(gap, True)} | {fmt(plain)} | "
                f"{fmt(plain - real, True)} | {fmt(vm, True)} | {fmt(cmt, True)} | {within} |"
            )
        lines += [
            "",
            "ours: compose's defaults (soft scale lock, chord-tone bonus on strong beats); "
            "no biases: scale lock off, no chord-tone bonus.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=None, help="default: the whole test split")
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--pop909", type=Path, default=SHARED / "datasets/pop909")
    parser.add_argument("--videos", type=Path, default=SHARED / "videos")
    parser.add_argument("--out", type=Path, help="keep the compositions here")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--weights", type=Path, help="folder of the three .safetensors (default: shipped)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        clips = synthetic_clips(out)
        if args.videos.is_dir():
            clips += sorted(args.videos.glob("*.mp4"))
        print(f"composing for {len(clips)} videos", file=sys.stderr)
        videos = video_part(clips, out, args.weights)
    pop = None
    if args.pop909.is_dir() and args.songs != 0:
        print("generating under POP909 test conditions", file=sys.stderr)
        pop = pop909_part(args.pop909, args.songs, args.bars, args.weights)
    text = report(videos, pop)
    total = time.perf_counter() - started
    print(text)
    print(f"\ntotal {total:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"videos": videos, "pop909": pop, "seconds": total}, indent=1, default=str)
        )


if __name__ == "__main__":
    main()
