"""Scene grouping against ground truth: synthetic layouts with known returns, and the shared
real clips (where no scene returns, nothing should be grouped).

    python bench/scenes.py [--shared ../shared/videos] [--json out.json]

For each clip: the true and found groups as letters, right or wrong, and the similarity of the
most alike pair of shots from different true scenes (how close a false merge came) and of the
least alike pair from one scene (how close a missed return came), against SCENE_THRESHOLD.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from symbolic_v2m.video import AnalysisConfig, analyze_video
from symbolic_v2m.video.features import scene_letter
from symbolic_v2m.video.scenes import SCENE_THRESHOLD, look_similarity
from symbolic_v2m.video.synthetic import scene_layout, write_synthetic_clip

#: name -> shots; a returning scene is the same texture moving the same way
LAYOUTS = {
    "ABAB": scene_layout("ABAB"),
    "ABCA": scene_layout("ABCA"),
    "ABCD (no return)": scene_layout("ABCD"),
    "ABCAB (shots of 3-5 s)": scene_layout("ABCAB", (4, 5, 3, 4, 5)),
    "ABCDE (E still)": scene_layout("ABCDE"),
    "ABAB (fast and still)": scene_layout("DEDE"),
}


def _letters(groups) -> str:
    return " ".join(scene_letter(g) for g in groups)


def _margins(looks, truth) -> tuple[float, float]:
    """(most alike pair across true scenes, least alike pair within one); blank shots are
    never compared (scenes.py), so they are left out."""
    across, within = 0.0, 1.0
    for i in range(len(looks)):
        for j in range(i):
            if looks[i].blank or looks[j].blank:
                continue
            s = look_similarity(looks[i], looks[j])
            if truth[i] == truth[j]:
                within = min(within, s)
            else:
                across = max(across, s)
    return across, within


def _looks(path: Path):
    """Analyse once; the shots' looks, re-measured with the analysis's own tracker."""
    from symbolic_v2m.video import analyze as analysis
    from symbolic_v2m.video.scenes import LookTracker

    kept: list[LookTracker] = []
    original = analysis.LookTracker

    class Keeping(LookTracker):
        def __init__(self) -> None:
            super().__init__()
            kept.append(self)

    analysis.LookTracker = Keeping
    try:
        features = analyze_video(path, AnalysisConfig())
    finally:
        analysis.LookTracker = original
    return features, kept[0].shot_looks(features.shots)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/videos"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shots in LAYOUTS.items():
            clip = write_synthetic_clip(Path(tmp) / "clip.mp4", shots)
            features, looks = _looks(clip.path)
            found = tuple(s.scene for s in features.shots)
            across, within = _margins(looks, clip.scenes)
            rows.append(
                (name, _letters(clip.scenes), _letters(found), found == clip.scenes, across, within)
            )
    if args.shared.is_dir():
        for path in sorted(args.shared.glob("*.mp4")):
            features, looks = _looks(path)
            found = tuple(s.scene for s in features.shots)
            truth = tuple(range(len(found)))  # nothing returns in these clips
            across, _ = _margins(looks, truth)
            rows.append((path.name, _letters(truth), _letters(found), found == truth, across, None))
    print(f"threshold {SCENE_THRESHOLD}")
    print("| clip | true | found | right | most alike across scenes | least alike within |")
    print("|---|---|---|---|---|---|")
    for name, truth, found, right, across, within in rows:
        w = "-" if within is None or within == 1.0 else f"{within:.3f}"
        print(f"| {name} | {truth} | {found} | {'yes' if right else 'NO'} | {across:.3f} | {w} |")
    print(f"right on {sum(r[3] for r in rows)} of {len(rows)} clips")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
