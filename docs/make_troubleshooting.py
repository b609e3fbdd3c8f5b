"""Write docs/TROUBLESHOOTING.md from the messages the command line really prints.

    python docs/make_troubleshooting.py            # rewrite the page
    python docs/make_troubleshooting.py --check    # exit 1 if the page is out of date

Each case makes its bad input in a scratch folder, runs ``python cli.py ...`` there (so paths
in the messages are the short relative names shown), and records the exit status and what was
printed on standard error. The explanations beside them are written by hand below; the messages
are never typed by hand. ``tests/test_troubleshooting.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "TROUBLESHOOTING.md"


def _clip(folder: Path, name: str = "clip.mp4", seconds: float = 2.0) -> Path:
    from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

    shots = [SyntheticShot(seconds / 2, speed=0.1, seed=1), SyntheticShot(seconds / 2, seed=2)]
    return write_synthetic_clip(folder / name, shots, size=(160, 90)).path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _truncated(folder: Path) -> None:
    data = _clip(folder, "whole.mp4").read_bytes()
    (folder / "clip.mp4").write_bytes(data[: len(data) // 2])


def _audio_only(folder: Path) -> None:
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-f", "mp4", "clip.mp4")


def _moved_video(folder: Path) -> None:
    clip = _clip(folder)
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "compose", str(clip), "--out", str(folder),
         "--only", "midi,project", "-q"],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    clip.rename(folder / "moved.mp4")


def _edited_meter(folder: Path) -> None:
    """A composition, and its MIDI re-saved in 3/4 (a time signature changed in a DAW)."""
    import mido

    _moved_video(folder)
    (folder / "moved.mp4").rename(folder / "clip.mp4")
    midi = mido.MidiFile(folder / "clip.mid")
    for msg in midi.tracks[0]:
        if msg.type == "time_signature":
            msg.numerator = 3
    midi.save(folder / "edited.mid")


def _long_timeline(folder: Path) -> None:
    """A 2 s clip and an OpenTimelineIO timeline of 3 s (another cut of the film)."""
    import opentimelineio as otio

    _clip(folder)
    rate = 30  # the clip's
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for frames in (30, 60):
        length = otio.opentime.RationalTime(frames, rate)
        start = otio.opentime.RationalTime(0, rate)
        track.append(otio.schema.Clip(source_range=otio.opentime.TimeRange(start, length)))
    otio.adapters.write_to_file(timeline, str(folder / "cut.otio"))


def _project_newer(folder: Path) -> None:
    doc = {"schema": "symbolic-v2m-project", "version": 99}
    (folder / "clip.v2m.json").write_text(json.dumps(doc))


@dataclass(frozen=True)
class Case:
    title: str
    make: Callable[[Path], object] | None
    argv: tuple[str, ...]
    advice: str


CASES = (
    Case("The video file is not there", None, ("analyze", "clip.mp4"),
         "Check the path (a typo, or a file moved since). Paths are relative to the folder "
         "you run the command in."),
    Case("A folder was given instead of a video", lambda f: (f / "clip.mp4").mkdir(),
         ("analyze", "clip.mp4"), "Give the video file inside the folder."),
    Case("The file is not a video", lambda f: (f / "clip.mp4").write_text("hello"),
         ("analyze", "clip.mp4"),
         "The file's name says video but its content is not one (a text file, a download "
         "that failed). Open it in a player; re-export or re-download it."),
    Case("The file has no picture", _audio_only, ("analyze", "clip.mp4"),
         "An audio-only file: the music is written for a picture, so give the video."),
    Case("The video is truncated", _truncated, ("analyze", "clip.mp4"),
         "The file ends early (an interrupted copy or download). Copy or download it again. "
         "When only a little is missing the analysis goes on and says how much was lost."),
    Case("An output already exists", lambda f: (_clip(f), (f / "clip.json").write_text("{}")),
         ("analyze", "clip.mp4", "--json", "clip.json"),
         "Nothing is overwritten unless you say so: add --force, or choose another name."),
    Case("An option value is out of range", _clip, ("compose", "clip.mp4", "--tempo", "10"),
         "Usage errors exit with status 2 and name the option; see `symbolic-v2m compose "
         "--help` for the allowed values."),
    Case("The key cannot be read", _clip, ("compose", "clip.mp4", "--key", "H major"),
         "Keys are written like 'D minor', 'Dm', 'F#' or 'Bb major' (music21's names)."),
    Case("A chord of the progression cannot be read", _clip,
         ("compose", "clip.mp4", "--progression", "I XYZ"),
         "Use Roman numerals relative to the key ('I V vi IV', 'ii65', 'V7') or chord symbols "
         "('Am F C G'); 'N: ...' applies to section N."),
    Case("A chord of the progression is outside a strict key", _clip,
         ("compose", "clip.mp4", "--key", "E minor", "--scale-lock", "strict", "--progression",
          "Am F C G"),
         "Under --scale-lock strict every note of every track stays in the key (in a minor key: "
         "natural minor and the raised 7th), the chords included. Keep a chord from outside "
         "with --scale-lock soft, or leave it out of the progression."),
    Case("The soundfont cannot be loaded",
         lambda f: (_clip(f), (f / "broken.sf2").write_bytes(b"not a soundfont" * 64)),
         ("compose", "clip.mp4", "--soundfont", "broken.sf2"),
         "FluidSynth reads SoundFont 2 files (.sf2, and .sf3 when built with libsndfile): the "
         "file is damaged, or of another kind (a .dls or .sfz). Nothing was analysed or written. "
         "Give a General MIDI soundfont, or leave --soundfont out to use the one installed "
         "(`symbolic-v2m doctor` shows which)."),
    Case("A hit point lies outside the video", _clip,
         ("compose", "clip.mp4", "--hit", "0:12.5"),
         "--hit takes a moment inside the video: seconds (12.5), minutes:seconds (0:12.5) or "
         "timecode HH:MM:SS:FF counted from the video's first frame at its frame rate. A "
         "timecode from an editing program's 01:00:00:00 timeline needs that hour taken off "
         "(or give the timeline itself with --timeline)."),
    Case("The editing timeline is not this video's", _long_timeline,
         ("compose", "clip.mp4", "--timeline", "cut.otio"),
         "--timeline must be the timeline the video was rendered from: the same length (within "
         "two frames) and frame rate. Export the timeline of the sequence you rendered, or "
         "render the video again from it."),
    Case("The project file is from a newer version", _project_newer,
         ("regenerate", "clip.v2m.json", "--bars", "1-2"),
         "The project was written by a newer symbolic-v2m: upgrade this one to edit it."),
    Case("The video of a project has moved", _moved_video,
         ("regenerate", "clip.v2m.json", "--bars", "1-1"),
         "Tell regenerate where the video is now with --video NEW_PATH (it must be the same "
         "file: its SHA-256 is checked), or write only the MIDI with --only midi, which does "
         "not need the video."),
    Case("An edited file's bars differ from the composition's", _edited_meter,
         ("regenerate", "clip.v2m.json", "--from-midi", "edited.mid", "--stage",
          "accompaniment"),
         "The bars follow the video's cuts: a file that comes back (--from-midi, "
         "--from-musicxml) must keep the composition's bars and time signatures, and its tempo "
         "map within rounding. Edit notes only, or compose again with the meter or tempo you "
         "want (--time-signature, --tempo); see section 4 of the user guide."),
    Case("A MIDI file cannot be read", lambda f: (f / "song.mid").write_bytes(b"MThd garbage"),
         ("evaluate", "song.mid"),
         "The file is damaged or not MIDI. Export it again from your DAW (Standard MIDI File, "
         "type 1)."),
)  # fmt: skip


def run_case(case: Case) -> tuple[int, str]:
    """(exit status, standard error) of one case, run in a fresh scratch folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if case.make is not None:
            cwd = os.getcwd()
            os.chdir(folder)  # the makers that call ffmpeg write relative names
            try:
                case.make(folder)
            finally:
                os.chdir(cwd)
        result = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), *case.argv],
            capture_output=True,
            text=True,
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
        )
    return result.returncode, result.stderr.replace(tmp, "SCRATCH")


def render() -> str:
    """The whole page."""
    lines = [
        "# Troubleshooting",
        "",
        "Every message below is what `symbolic-v2m` really prints for that problem: this page is",
        "made by `python docs/make_troubleshooting.py` (and a test checks that it is current).",
        "",
        "Exit status: 0 done, 1 a problem with an input or output (one line: `error: FILE: ...`),",
        "2 a bad option value (the option is named), 130 interrupted (Ctrl-C), 143 terminated",
        "(SIGTERM). An interrupted or failed run changes nothing in the output folder (the new",
        "files replace the old ones all together, at the end), and existing files are never",
        "overwritten without `--force`; the line printed on Ctrl-C says whether the new set had",
        "already been put in place. Add `--debug` (before the command) for a full",
        "traceback. `symbolic-v2m doctor` lists the system parts found and what a missing one",
        "disables (FluidSynth or a soundfont: no WAV or MP4, everything else is still written).",
        "",
    ]
    for case in CASES:
        code, stderr = run_case(case)
        lines += [
            f"## {case.title}",
            "",
            "```",
            f"$ symbolic-v2m {' '.join(_quote(a) for a in case.argv)}",
            stderr.rstrip(),
            f"(exit status {code})",
            "```",
            "",
            case.advice,
            "",
        ]
    return "\n".join(lines)


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    page = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != page:
            sys.exit(f"{PAGE} is out of date: run python docs/make_troubleshooting.py")
        print(f"{PAGE} is current")
        return
    PAGE.write_text(page)
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
