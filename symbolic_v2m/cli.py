"""The ``symbolic-v2m`` command line: parse options, call the library, print, map errors.

    $ symbolic-v2m analyze clip.mp4 --json clip.json --plot clip.png

Errors a user can fix print one line (``error: ...``) and exit 1; usage errors exit 2;
``--debug`` shows tracebacks instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TextIO

import click

from symbolic_v2m import __version__
from symbolic_v2m.cli_options import (
    form_options,
    hit_option,
    parse_bar_range,
    parse_energy,
    parse_frame_rate,
    parse_instruments,
    parse_outputs,
    parse_ranges,
    parse_time_range,
    run_options,
    seed_option,
    theory_options,
)
from symbolic_v2m.cli_report import (
    analysis_summary,
    composition_report,
    format_dataset_stats,
    format_evaluation,
    outcome_lines,
)
from symbolic_v2m.errors import V2MError
from symbolic_v2m.export import atomic_output, check_outputs, write_analysis_plot
from symbolic_v2m.timeline.hits import HIT_THRESHOLD
from symbolic_v2m.video import DETECTORS, AnalysisConfig, CutConfig, analyze_video
from symbolic_v2m.video.scenes import SCENE_THRESHOLD


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symbolic-v2m")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def app(debug: bool) -> None:
    """Compose an editable soundtrack that fits a video's cuts and motion."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s: %(message)s"
    )


@app.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="Write the features as JSON."
)
@click.option("--plot", "plot_out", type=click.Path(path_type=Path), help="Draw a timeline PNG.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option(
    "--detector",
    type=click.Choice(list(DETECTORS)),
    default="adaptive",
    show_default=True,
    help="PySceneDetect cut detector.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    help="The detector's threshold (its own units; default: the detector's).",
)
@click.option("--no-fades", is_flag=True, help="Do not report fades through black.")
@click.option(
    "--fps", callback=parse_frame_rate, help="Override the frame rate (for files with bad timing)."
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def analyze(
    video: Path,
    json_out: Path | None,
    plot_out: Path | None,
    force: bool,
    detector: str,
    threshold: float | None,
    no_fades: bool,
    fps: Fraction | None,
    quiet: bool,
) -> None:
    """Analyse VIDEO: cuts, motion speed, visual beats and tempo, colour per shot."""
    outputs = [p for p in (json_out, plot_out) if p is not None]
    check_outputs(outputs, force, inputs=[video])
    config = AnalysisConfig(fps=fps, cuts=CutConfig(detector, threshold, fades=not no_fades))
    with _progress_bar(enabled=not quiet) as progress:
        features = analyze_video(video, config, progress)
    if json_out is not None:
        with atomic_output(json_out) as tmp:
            tmp.write_text(features.to_json(indent=1) + "\n")
    if plot_out is not None:
        write_analysis_plot(features, video, plot_out)
    if not quiet:
        click.echo(analysis_summary(features))
        for path in outputs:
            click.echo(f"wrote {path}")


class _progress_bar:  # noqa: N801 - used like a function in a with-statement
    """A tqdm bar on an interactive terminal, nothing otherwise; yields the progress callback."""

    def __init__(self, enabled: bool, desc: str = "analysing", unit: str = "s") -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.desc = desc
        self.unit = unit
        self.bar = None

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return None
        from tqdm import tqdm

        self.bar = tqdm(
            total=1.0,
            unit=self.unit,
            desc=self.desc,
            leave=False,
            bar_format="{desc} {bar} {n:.0f}/{total:.0f} " + self.unit + " [{elapsed}<{remaining}]",
        )

        def update(done: float, total: float) -> None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


class _phase_display:  # noqa: N801 - used like a function in a with-statement
    """The progress of a whole run on an interactive terminal (nothing otherwise): one tqdm bar
    per phase, named as :data:`~symbolic_v2m.progress.PHASES` names it, with the phase's unit,
    the time spent in it and an estimate of what is left; yields the library's callback."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        self.phase: str | None = None
        self.terminal: TextIO | None = None

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return None
        from tqdm import tqdm

        from symbolic_v2m.progress import PHASES

        # The bars draw on their own copy of the terminal's descriptor: while FluidSynth loads
        # a soundfont (beside the score's export) descriptor 2 is briefly redirected to catch
        # what the library prints, and a bar drawn then would vanish into that log.
        self.terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w")

        def update(phase: str, done: float, total: float) -> None:
            if phase != self.phase:
                self._close()
                unit = PHASES[phase].unit
                self.phase = phase
                self.bar = tqdm(
                    total=total,
                    desc=phase,
                    leave=False,
                    file=self.terminal,
                    # a terminal that reports no width (some pseudo-terminals) would get no bar
                    ncols=shutil.get_terminal_size().columns,
                    bar_format="{desc} {bar} {n:.0f}/{total:.0f} "
                    + unit
                    + " [{elapsed}<{remaining}]",
                )
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

        return update

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self._close()
        if self.terminal is not None:
            self.terminal.close()
            self.terminal = None


def _set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch (when given)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


@app.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (default: ./out/<video name>/).",
)
@click.option(
    "--style",
    type=click.Choice(["piano", "cinematic", "pop", "ambient"]),
    default="cinematic",
    show_default=True,
)
@click.option("--tempo", type=click.FloatRange(30, 300), help="Base tempo (BPM; default: video).")
@click.option(
    "--max-tempo-change",
    type=click.FloatRange(0.01, 0.5),
    default=0.10,
    show_default=True,
    help="How far a shot's tempo may move from the base.",
)
@theory_options(span=False)
@click.option("--mode", type=click.Choice(["major", "minor"]), help="Mode when no --key.")
@click.option(
    "--time-signature", type=click.Choice(["4/4", "3/4", "6/8"]), default="4/4", show_default=True
)
@click.option(
    "--energy",
    "energy",
    multiple=True,
    callback=parse_energy,
    help="-1..1: busier (+) or calmer (-) than the motion suggests; 'N:0.5' for section N "
    "only (repeatable).",
)
@click.option(
    "--range",
    "pitch_ranges",
    multiple=True,
    callback=parse_ranges,
    help="ROLE=LOW-HIGH pitch range, e.g. melody=C4-C6 or accompaniment=36-72.",
)
@click.option(
    "--chord-tones",
    "chord_tone_bonus",
    type=click.FloatRange(0, 10),
    help="Nudge the melody toward chord tones on strong beats: a logit bonus (default "
    "2: about 7x the odds; 0 = the model's own choice).",
)
@click.option(
    "--candidates",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Versions generated per stage (one batch); the best is kept.",
)
@seed_option(default=0)
@click.option(
    "--only",
    callback=parse_outputs,
    help="Outputs to write (comma-separated): midi, musicxml, png, project, wav, mp4 (these are "
    "the default), stems (a MIDI and a WAV per track, for a DAW), or all.",
)
@click.option(
    "--instrument",
    "instruments",
    multiple=True,
    callback=parse_instruments,
    help="ROLE=INSTRUMENT, e.g. melody=flute or bass=33 (repeatable).",
)
@click.option("--keep-audio", is_flag=True, help="Mix the video's own sound under the music.")
@click.option(
    "--soundfont",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A General MIDI soundfont (.sf2/.sf3) for the WAV.",
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Folder with chord/melody/accompaniment .safetensors (default: the shipped models).",
)
@hit_option(span=False)
@click.option(
    "--timeline",
    "timeline_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The editing program's timeline of this video (.edl, .xml, .fcpxml, .kdenlive, .otio): "
    "its cuts replace the detected ones, its markers become hit points (a marker named "
    "'Section ...' starts a section).",
)
@click.option(
    "--hit-threshold",
    type=click.FloatRange(min=0.0),
    default=HIT_THRESHOLD,
    show_default=True,
    help="Visual beats (flashes, slams; weight 0-1) at least this strong become hit points; "
    "above 1, none do.",
)
@form_options(span=False)
@click.option(
    "--scene-threshold",
    type=click.FloatRange(min=0.0),
    default=SCENE_THRESHOLD,
    show_default=True,
    help="Shots at least this alike (0-1) show the same scene and share their music; above 1, "
    "no scene returns.",
)
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@run_options
def compose(
    video: Path,
    out_dir: Path | None,
    style: str,
    tempo: float | None,
    max_tempo_change: float,
    key: str | None,
    progression: tuple[str, ...],
    scale_lock: str,
    mode: str | None,
    time_signature: str,
    energy: tuple[float, dict[int, float]],
    pitch_ranges: dict[str, tuple[int, int]],
    chord_tone_bonus: float | None,
    candidates: int | None,
    seed: int,
    only: tuple[str, ...],
    instruments: dict[str, int],
    keep_audio: bool,
    soundfont: Path | None,
    weights: Path | None,
    hits: tuple[str, ...],
    timeline_file: Path | None,
    hit_threshold: float,
    form: tuple[str, ...],
    variation: float,
    scene_threshold: float,
    force: bool,
    device: str | None,
    threads: int | None,
    quiet: bool,
) -> None:
    """Compose a soundtrack for VIDEO: MIDI, MusicXML, WAV, MP4, timeline PNG, project file
    (and on request stems: a MIDI and a WAV per track)."""
    from symbolic_v2m.compose import ComposeConfig
    from symbolic_v2m.compose import compose as run_compose

    config = ComposeConfig(
        style=style,
        tempo=tempo,
        max_tempo_deviation=max_tempo_change,
        key=key,
        mode=mode,
        time_signature=time_signature,
        energy=energy[0],
        section_energy=energy[1],
        pitch_ranges=pitch_ranges,
        candidates=candidates,
        seed=seed,
        device=device,
        outputs=only,
        keep_audio=keep_audio,
        soundfont=str(soundfont) if soundfont else None,
        instruments=instruments,
        progression=progression,
        scale_lock=scale_lock,
        weights_dir=str(weights) if weights else None,
        hits=hits,
        hit_threshold=hit_threshold,
        timeline_file=str(timeline_file) if timeline_file else None,
        form=form,
        variation=variation,
        analysis=AnalysisConfig(scene_threshold=scene_threshold),
    )
    if chord_tone_bonus is not None:
        config = replace(config, chord_tone_bonus=chord_tone_bonus)
    _set_threads(threads)
    out_dir = out_dir or Path("out") / video.stem
    with _phase_display(enabled=not quiet) as progress:
        result = run_compose(
            video, out_dir, config, force=force, progress=progress, on_commit=_on_commit()
        )
    if not quiet:
        click.echo("\n".join(composition_report(video, result)))


@app.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--bars", callback=parse_bar_range, help="Bars to regenerate, e.g. 9-16 (from 1).")
@click.option("--section", type=click.IntRange(min=1), help="A section to regenerate (from 1).")
@click.option("--time", "time_span", callback=parse_time_range, help="A time span, e.g. 0:12-0:24.")
@click.option(
    "--stage",
    type=click.Choice(["chord", "melody", "accompaniment", "all"]),
    default="all",
    show_default=True,
)
@click.option("--keep", is_flag=True, help="Do not regenerate the stages after --stage.")
@theory_options(span=True)
@click.option("--energy", type=click.FloatRange(-1, 1), help="Busier (+) or calmer (-) span.")
@seed_option(default=1)
@click.option(
    "--variations",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Alternatives written side by side (NAME.var2.mid ...); the first is applied.",
)
@click.option(
    "--from-midi",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A MIDI you edited in a DAW: its parts are kept as given, read by bar and beat.",
)
@click.option(
    "--from-musicxml",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The same from a MusicXML (.musicxml, .mxl) saved by a notation program.",
)
@click.option(
    "--video",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the composition's video is now, if it was moved (it must be the same file).",
)
@click.option(
    "--only",
    "only",
    type=click.Choice(["midi", "all"]),
    default="all",
    show_default=True,
    help="midi: skip MusicXML, PNG, WAV and MP4 (the stems' MIDIs are rewritten, their WAVs not).",
)
@click.option("--revert", is_flag=True, help="Undo the last regeneration.")
@hit_option(span=True)
@form_options(span=True)
@run_options
def regenerate(
    project: Path,
    bars: tuple[int, int] | None,
    section: int | None,
    time_span: tuple[float, float] | None,
    stage: str,
    keep: bool,
    key: str | None,
    progression: tuple[str, ...],
    scale_lock: str | None,
    energy: float | None,
    seed: int,
    variations: int,
    from_midi: Path | None,
    from_musicxml: Path | None,
    video: Path | None,
    only: str,
    revert: bool,
    hits: tuple[str, ...],
    form: tuple[str, ...],
    only_this: bool,
    device: str | None,
    threads: int | None,
    quiet: bool,
) -> None:
    """Regenerate stages over bars, a section or a time span of a composition's PROJECT file."""
    from symbolic_v2m.compose import RegenerateRequest
    from symbolic_v2m.compose import regenerate as run_regenerate

    if sum(x is not None for x in (bars, section, time_span)) > 1:
        raise click.UsageError("give at most one of --bars, --section, --time")
    if from_midi is not None and from_musicxml is not None:
        raise click.UsageError("give at most one of --from-midi, --from-musicxml")
    for edited, hint in ((from_midi, "--from-midi"), (from_musicxml, "--from-musicxml")):
        if edited is not None and not edited.is_file():
            raise click.BadParameter(f"{edited} not found", param_hint=hint)
    request = RegenerateRequest(
        bars=bars,
        section=section,
        time=time_span,
        stage=stage,
        keep=keep,
        key=key,
        progression=progression,
        scale_lock=scale_lock,
        energy=energy,
        seed=seed,
        variations=variations,
        from_midi=str(from_midi) if from_midi else None,
        from_musicxml=str(from_musicxml) if from_musicxml else None,
        video=str(video) if video else None,
        outputs=("midi",) if only == "midi" else ("midi", "musicxml", "png", "wav", "mp4"),
        revert=revert,
        device=device,
        hits=hits,
        form=form,
        only_this=only_this,
    )
    _set_threads(threads)
    with _phase_display(enabled=not quiet) as progress:
        result = run_regenerate(project, request, on_commit=_on_commit(), progress=progress)
    if quiet:
        return
    verb = "reverted" if revert else "regenerated"
    click.echo(f"{verb} {', '.join(result.stages)} in bars {result.bars[0]}-{result.bars[1]}")
    for line in outcome_lines(result.warnings, result.files.values()):
        click.echo(line)


@app.command()
@click.argument("midi", type=click.Path(path_type=Path))
@click.option("--video", type=click.Path(path_type=Path), help="Measure the fit to this video.")
@click.option(
    "--project",
    type=click.Path(path_type=Path),
    help="The .v2m.json the MIDI was composed from: control adherence.",
)
@click.option(
    "--reference",
    help="A folder of .mid files, or pop909-test (with --pop909): the same metrics there.",
)
@click.option(
    "--pop909",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SYMBOLIC_V2M_POP909",
    help="The POP909 folder (001/ ... 909/), for --reference pop909-test.",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write JSON here.")
@click.option("--force", is_flag=True, help="Overwrite an existing JSON file.")
def evaluate(
    midi: Path,
    video: Path | None,
    project: Path | None,
    reference: str | None,
    pop909: Path | None,
    json_out: Path | None,
    force: bool,
) -> None:
    """Judge MIDI: music metrics, and with options its fit to a video, its adherence to the
    project's controls, and the gap to a reference set. Works on any system's MIDI."""
    import json

    from symbolic_v2m.evaluation import EvaluateConfig
    from symbolic_v2m.evaluation import evaluate as evaluate_midi

    check_outputs([json_out] if json_out else [], force, inputs=[midi])
    config = EvaluateConfig(video=video, project=project, reference=reference, pop909=pop909)
    report = evaluate_midi(midi, config, warn=lambda text: click.echo(f"warning: {text}", err=True))
    if json_out is not None:
        with atomic_output(json_out) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    click.echo(format_evaluation(report))
    if json_out is not None:
        click.echo(f"wrote {json_out}")


@app.command()
def doctor() -> None:
    """Report which system parts are installed and what each missing one disables.

    Exit status 1 when a required part (ffmpeg, ffprobe, torch, the default weights) is missing.
    """
    from symbolic_v2m.doctor import check_system

    checks = check_system()
    for check in checks:
        mark = "ok " if check.ok else ("MISSING" if check.required else "missing")
        click.echo(f"{mark:<8}{check.name:<20}{check.detail}")
        if not check.ok:
            click.echo(f"{'':<28}needed for: {check.needed_for}")
    broken = [c.name for c in checks if c.required and not c.ok]
    if broken:
        raise V2MError(f"required part(s) missing: {', '.join(broken)}")


@app.group()
def dataset() -> None:
    """Prepare training corpora and inspect them."""


@dataset.command("prepare")
@click.option(
    "--pop909",
    "pop909_dir",
    required=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="The POP909 folder (holding 001/ ... 909/).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the token arrays.",
)
@click.option(
    "--split",
    "split_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Split file (default: the one committed under datasets/pop909/).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: cores).")
@click.option("--no-bridge", is_flag=True, help="Leave POP909's BRIDGE track out.")
@click.option("--force", is_flag=True, help="Rebuild even if the cache is up to date.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def dataset_prepare(
    pop909_dir: Path,
    out_dir: Path,
    split_path: Path | None,
    workers: int | None,
    no_bridge: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Quantise a corpus and cache token arrays for the three stages."""
    from symbolic_v2m.data import (
        Pop909,
        PrepareConfig,
        default_split_path,
        load_split,
        prepare_corpus,
    )

    if out_dir.exists() and not out_dir.is_dir():
        raise click.BadParameter(f"{out_dir} is a file", param_hint="--out")
    split = load_split(split_path or default_split_path("pop909"))
    config = PrepareConfig(workers=workers) if workers else PrepareConfig()
    corpus = Pop909(pop909_dir, include_bridge=not no_bridge)
    with _progress_bar(enabled=not quiet, desc="preparing", unit="songs") as progress:
        result = prepare_corpus(corpus, split, out_dir, config, force=force, progress=progress)
    if quiet:
        return
    if result.cached:
        click.echo(f"{out_dir}: up to date (same corpus, split and representation)")
    songs = ", ".join(f"{n} {name}" for name, n in result.songs.items())
    click.echo(f"songs       {songs}")
    for name, per_stage in result.tokens.items():
        click.echo(
            f"tokens      {name:5s} " + ", ".join(f"{r} {n:,}" for r, n in per_stage.items())
        )
    click.echo(
        f"excluded    {len(result.excluded)} (off the 16th grid; see {out_dir}/manifest.json)"
    )
    for song_id, reason in result.skipped.items():
        click.echo(f"skipped     {song_id}: {reason}")
    if not result.cached:
        click.echo(f"time        {result.seconds:.1f} s")


@dataset.command("stats")
@click.argument("data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="Also write the statistics here (always written to DIR/stats.json).",
)
@click.option(
    "--calibration",
    "calibration_out",
    type=click.Path(path_type=Path),
    help="Write the train split's control tables (the package's calibration file).",
)
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def dataset_stats(
    data_dir: Path, json_out: Path | None, calibration_out: Path | None, force: bool
) -> None:
    """Print the statistics of a prepared dataset and write them as JSON."""
    import json

    from symbolic_v2m.data import dataset_statistics

    outputs = [p for p in (json_out, calibration_out) if p is not None]
    check_outputs(outputs, force)
    stats = dataset_statistics(data_dir)
    for path in [data_dir / "stats.json", *([json_out] if json_out else [])]:
        with atomic_output(path) as tmp:
            tmp.write_text(stats.to_json() + "\n")
    if calibration_out:
        with atomic_output(calibration_out) as tmp:
            tmp.write_text(json.dumps(stats.calibration(), indent=1) + "\n")
    click.echo(format_dataset_stats(stats))


@app.command()
@click.option("--stage", type=click.Choice(["chord", "melody", "accompaniment"]))
@click.option(
    "--resume",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Continue the run in this directory with its own settings (other options ignored).",
)
@click.option(
    "--extend",
    "extend_epochs",
    type=click.IntRange(min=1),
    help="With --resume: carry the run on for this many more epochs, with a warm restart.",
)
@click.option(
    "--restart-peak",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    help="With --extend: the restart's peak learning rate, as a fraction of the run's --lr.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A prepared dataset (symbolic-v2m dataset prepare).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory: checkpoints, best weights, log, loss curve. Resumes if present.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    help="Optimiser steps per epoch (default: one pass over the train tokens).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--seq-len",
    type=click.IntRange(min=8),
    default=512,
    show_default=True,
    help="Tokens per training window (= the model's context).",
)
@click.option("--d-model", type=click.IntRange(min=8), default=256, show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--heads", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--ff", type=click.IntRange(min=8), help="Feed-forward width (default 4 x d-model).")
@click.option("--dropout", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=3e-4,
    show_default=True,
    help="Peak learning rate (1e-3 stalled the root and pitch losses on POP909).",
)
@click.option("--warmup", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--pitch",
    "pitch_frame",
    type=click.Choice(["key-relative", "absolute"]),
    default="key-relative",
    show_default=True,
    help="Pitches relative to the key's tonic, or absolute with random transposition.",
)
@click.option(
    "--rotary/--no-rotary",
    default=True,
    show_default=True,
    help="Rotary embedding of the token index in attention.",
)
@click.option(
    "--init-from",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Fine-tune: start from these weights (their network; the sizes given here are "
    "ignored), with chained chord heads added.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when present).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
def train(
    stage: str | None,
    data_dir: Path | None,
    out_dir: Path | None,
    epochs: int,
    steps_per_epoch: int | None,
    batch_size: int,
    seq_len: int,
    d_model: int,
    layers: int,
    heads: int,
    ff: int | None,
    dropout: float,
    lr: float,
    warmup: int,
    pitch_frame: str,
    rotary: bool,
    init_from: Path | None,
    seed: int,
    device: str | None,
    quiet: bool,
    resume: Path | None,
    extend_epochs: int | None,
    restart_peak: float,
) -> None:
    """Train one stage's CP Transformer (also under torchrun: -m symbolic_v2m.cli train ...).

    A run directory holds everything needed to carry on: `train --resume RUN` continues a
    stopped run exactly where its last checkpoint left it, with the run's own settings;
    `--resume RUN --extend N` carries a run on for N more epochs (a warm restart of the
    learning rate; the run's log and model card keep the whole history)."""
    from symbolic_v2m.model import ModelConfig
    from symbolic_v2m.training import TrainConfig, extend_run, load_run_config
    from symbolic_v2m.training import train as run_training

    if extend_epochs is not None and resume is None:
        raise click.UsageError("--extend carries on an existing run: give --resume RUN")
    if resume is not None:
        config = load_run_config(resume, device=device)
        if extend_epochs is not None:
            try:
                config = extend_run(config, extend_epochs, restart_peak)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
        stage = config.stage
        out_dir = Path(config.out_dir)
        return _run_training(config, stage, out_dir, quiet, run_training)
    for value, name in ((stage, "--stage"), (data_dir, "--data"), (out_dir, "--out")):
        if value is None:
            raise click.UsageError(f"{name} is required (or --resume RUN)")
    if d_model % heads:
        raise click.BadParameter(
            f"{d_model} is not divisible by --heads {heads}", param_hint="--d-model"
        )
    model = ModelConfig(
        stage=stage,
        d_model=d_model,
        n_layers=layers,
        n_heads=heads,
        d_ff=ff or 4 * d_model,
        dropout=dropout,
        key_relative=pitch_frame == "key-relative",
        rotary=rotary,
    )
    if init_from is not None:
        from dataclasses import replace

        from symbolic_v2m.model import load_model

        model = replace(load_model(init_from, "cpu").config, chained=True, dropout=dropout)
        if model.stage != stage:
            raise click.BadParameter(
                f"a {model.stage} model, not {stage}", param_hint="--init-from"
            )
    config = TrainConfig(
        stage=stage,
        data_dir=str(data_dir),
        out_dir=str(out_dir),
        model=model,
        init_from=None if init_from is None else str(init_from),
        seq_len=seq_len,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        seed=seed,
        device=device,
    )
    _run_training(config, stage, out_dir, quiet, run_training)


def _run_training(config, stage: str, out_dir: Path, quiet: bool, run_training) -> None:  # noqa: ANN001
    """Run (or resume) a training run with a progress bar on a terminal, one line at the end."""
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=1, desc=f"training {stage}", unit="step", leave=False)

    def progress(step: int, total: int, loss: float) -> None:
        if bar is not None:
            bar.total = total
            bar.n = step
            bar.set_postfix(loss=f"{loss:.3f}", refresh=True)

    try:
        result = run_training(config, progress)
    finally:
        if bar is not None:
            bar.close()
    if not quiet and result:
        click.echo(
            f"epoch {result['epoch']}: train loss {result['train']['loss']:.3f}, "
            f"valid loss {result['valid']['loss']:.3f} -> {out_dir}/best.safetensors"
        )


@dataclass
class _Run:
    """What the CLI's last line depends on when a signal ends the run: whether the command had
    already replaced its outputs (the library calls :meth:`commit` the moment it has)."""

    committed: bool = False

    def commit(self) -> None:
        self.committed = True


def _on_commit() -> Callable[[], None] | None:
    run = click.get_current_context().find_object(_Run)
    return run.commit if run is not None else None


class Stopped(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM, raised in the main thread so that every ``finally`` runs:
    temporary outputs are removed and ffmpeg children reaped. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` in the library swallows it; not a
    KeyboardInterrupt, which click would turn into its own two-line "Aborted!"."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


#: exit status and message per signal (128 + the signal number, as shells report it)
_STOPS = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "terminated"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted, 143
    terminated)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if threading.current_thread() is not threading.main_thread():
        return _main(args)  # signal handlers can only be set in the main thread
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in _STOPS}
    try:
        return _main(args)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(args: list[str]) -> int:
    debug = "--debug" in args
    run = _Run()
    try:
        app.main(args=args, prog_name="symbolic-v2m", standalone_mode=False, obj=run)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:  # usage errors: click formats them (exit 2)
        err.show()
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:  # a SIGINT that arrived before our handler was set
        click.echo(_stopped_line("interrupted", run), err=True)
        return 130
    except Stopped as stop:
        code, what = _STOPS[stop.signum]
        click.echo(_stopped_line(what, run), err=True)
        return code
    except V2MError as err:
        if debug:
            raise
        click.echo(f"error: {err}", err=True)
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        click.echo(
            f"error: internal error: {type(err).__name__}: {err} (rerun with --debug for details)",
            err=True,
        )
        return 1
    return 0


def _stopped_line(what: str, run: _Run) -> str:
    if run.committed:
        return f"{what} after the outputs were written: the folder holds the complete new set"
    return f"{what}: nothing was changed (no partial outputs were left)"


if __name__ == "__main__":
    raise SystemExit(main())
