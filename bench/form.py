"""Form: recurrence and returning-scene similarity of compositions, before (``--form free``: no
repetition, the composer as it was) and after (the defaults), against POP909.

    python bench/form.py [--pop909 ../shared/datasets/pop909] [--videos ../shared/videos]
                         [--json out.json]

Videos: synthetic clips of 20-60 s made by the project's own code (varied motion; scenes that
return and ones that do not), and the shared real clips of that length. For each: recurrence of
the whole MIDI (evaluation/music.py), the melody's bar-for-bar similarity of every returning
scene to its first appearance and to the other scenes, and the figures the form must not
lower: pitch-class entropy and scale consistency of the whole file, cuts on downbeats and the
density-speed correlation (evaluation/video_fit.py).

POP909: recurrence of the first 24 bars and of the whole song, the first 60 songs by number.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.evaluation.music import (
    aligned_similarity,
    bar_onset_sets,
    music_metrics,
    recurrence,
)
from symbolic_v2m.evaluation.piece import piece_from_score, read_piece
from symbolic_v2m.evaluation.video_fit import video_fit
from symbolic_v2m.video import analyze_video
from symbolic_v2m.video.synthetic import SyntheticShot, scene_layout, write_synthetic_clip

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _varied(n: int, seconds: float, seed: int) -> tuple[SyntheticShot, ...]:
    """``n`` shots of different places and speeds (nothing returns)."""
    rng = np.random.default_rng(seed)
    return tuple(
        SyntheticShot(
            seconds,
            speed=float(rng.choice([0.0, 0.03, 0.1, 0.2, 0.35, 0.5])),
            direction=float(rng.uniform(0, 360)),
            seed=100 * seed + i,
        )
        for i in range(n)
    )


#: name -> (shots, whether scenes return)
CLIPS = {
    "45 s, six shots, no return": _varied(6, 7.5, 1),
    "48 s, A B A B": scene_layout("ABAB", 12.0),
    "48 s, A B C A": scene_layout("ABCA", 12.0),
    "40 s, A B A C A": scene_layout("ABACA", 8.0),
    "20 s, one shot": _varied(1, 20.0, 2),
    "30 s, three shots": _varied(3, 10.0, 3),
    "60 s, eight shots": _varied(8, 7.5, 4),
}


def _measure(video: Path, out: Path, config: ComposeConfig, features) -> dict:
    result = compose(video, out, config, force=True, features=features)
    piece = read_piece(result.files["midi"])
    music = music_metrics(piece)
    fit = video_fit(piece, features)
    sections = result.timeline.sections
    bars = bar_onset_sets(piece, piece.pitched("Melody"))
    returns = []
    for i, section in enumerate(sections):
        earlier = [j for j in range(i) if sections[j].scene == section.scene >= 0]
        if not earlier:
            continue
        first = sections[earlier[0]]
        span = range(section.start_bar, section.end_bar)
        others = [
            aligned_similarity(bars, range(s.start_bar, s.end_bar), span)
            for s in sections[:i]
            if s.scene != section.scene
        ]
        returns.append(
            {
                "section": i + 1,
                "to_first": aligned_similarity(bars, range(first.start_bar, first.end_bar), span),
                "to_others": max(others) if others else math.nan,
            }
        )
    return {
        "labels": " ".join(s.label for s in sections),
        "scenes": " ".join(str(s.scene) for s in sections),
        "recurrence": recurrence(piece),
        "returns": returns,
        "pitch_class_entropy": music["pitch_class_entropy"],
        "scale_consistency": music["scale_consistency"],
        "cut_downbeat_recall": fit["cut_downbeat_recall"],
        "density_speed_spearman": fit["density_speed_spearman"],
    }


def _pop909(root: Path, songs: int = 60, bars: int = 24) -> dict:
    from symbolic_v2m.data import Pop909

    corpus = Pop909(root)
    first, whole = [], []
    for song in sorted(corpus.song_ids())[:songs]:
        score = corpus.load(song).score
        whole.append(recurrence(piece_from_score(score)))
        end = [b.start for b in score.bars()][bars] if score.n_bars > bars else score.length
        cut = replace(
            score,
            meters=score.meters[:bars],
            chords=(),
            keys=score.keys[:1],
            melody=tuple(n for n in score.melody if n.onset < end),
            accompaniment=tuple(n for n in score.accompaniment if n.onset < end),
        )
        first.append(recurrence(piece_from_score(cut)))
    return {
        "songs": len(first),
        "first_bars": bars,
        "recurrence_first": float(np.mean(first)),
        "recurrence_first_sd": float(np.std(first)),
        "recurrence_whole": float(np.mean(whole)),
    }


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pop909", type=Path, default=SHARED / "datasets/pop909")
    parser.add_argument("--videos", type=Path, default=SHARED / "videos")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        videos = {}
        for name, shots in CLIPS.items():
            videos[name] = write_synthetic_clip(Path(tmp) / f"{len(videos)}.mp4", shots).path
        if args.videos.is_dir():
            for path in sorted(args.videos.glob("*.mp4")):
                features = analyze_video(path)
                if 20 <= features.info.duration <= 60:
                    videos[path.name] = path
        for name, video in videos.items():
            features = analyze_video(video)
            base = ComposeConfig(outputs=("midi",), seed=args.seed)
            rows[name] = {
                "before": _measure(video, Path(tmp) / "before", replace(base, form=("free",)),
                                   features),
                "after": _measure(video, Path(tmp) / "after", base, features),
            }  # fmt: skip
            print(name, json.dumps(rows[name]["after"]["labels"]), flush=True)
    pop = _pop909(args.pop909) if args.pop909.is_dir() else None

    print("\n| video | form | recurrence before | after | returning scene to its first "
          "(after) | to the others | PCE before / after | scale before / after | cuts on "
          "downbeats after | density-speed rho before / after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        b, a = r["before"], r["after"]
        first = [x["to_first"] for x in a["returns"]]
        others = [x["to_others"] for x in a["returns"]]
        print(
            f"| {name} | {a['labels']} | {_fmt(b['recurrence'])} | {_fmt(a['recurrence'])} | "
            f"{', '.join(_fmt(x) for x in first) or '-'} | "
            f"{', '.join(_fmt(x) for x in others) or '-'} | "
            f"{_fmt(b['pitch_class_entropy'])} / {_fmt(a['pitch_class_entropy'])} | "
            f"{_fmt(b['scale_consistency'])} / {_fmt(a['scale_consistency'])} | "
            f"{_fmt(a['cut_downbeat_recall'])} | "
            f"{_fmt(b['density_speed_spearman'])} / {_fmt(a['density_speed_spearman'])} |"
        )
    before = [r["before"]["recurrence"] for r in rows.values()]
    after = [r["after"]["recurrence"] for r in rows.values()]
    print(f"\nmean recurrence: before {np.mean(before):.3f}, after {np.mean(after):.3f}; "
          f"lowest after {min(after):.3f}")  # fmt: skip
    if pop:
        print(
            f"POP909 ({pop['songs']} songs): first {pop['first_bars']} bars "
            f"{pop['recurrence_first']:.3f} (sd {pop['recurrence_first_sd']:.3f}), whole songs "
            f"{pop['recurrence_whole']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"videos": rows, "pop909": pop}, indent=1, default=str))


if __name__ == "__main__":
    main()
