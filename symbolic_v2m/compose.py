"""The main job: video -> analysis -> timeline -> chord, melody, accompaniment -> arrangement ->
MIDI, MusicXML, timeline picture, project file, WAV, MP4.

Only this module and the CLI know the whole pipeline. Each phase is timed; a missing optional
system part (FluidSynth, a soundfont, ffmpeg for muxing) skips its output with a warning and the
rest completes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from symbolic_v2m.arrangement import Arrangement, Marker, arrange
from symbolic_v2m.data import load_calibration, representation_fingerprint
from symbolic_v2m.errors import ConfigError, MissingPartError
from symbolic_v2m.export import (
    check_outputs,
    mux_audio,
    render_wav,
    write_midi,
    write_musicxml,
    write_timeline_plot,
)
from symbolic_v2m.model import SamplingConfig, default_weights_path, load_model, pick_device
from symbolic_v2m.music.score import Role, Score, TimeSignature, clip_notes
from symbolic_v2m.project import Project, file_sha256, score_to_dict, timeline_to_dict
from symbolic_v2m.stages import StageConfig, StageRequest, write_part
from symbolic_v2m.stages.theory_constraints import progression_events, scale_lock_bias
from symbolic_v2m.timeline import ControlConfig, Timeline, TimelineConfig, build_timeline
from symbolic_v2m.video import AnalysisConfig, VideoFeatures, analyze_video

log = logging.getLogger(__name__)

OUTPUTS = ("midi", "musicxml", "png", "project", "wav", "mp4")
SUFFIXES = {
    "midi": ".mid",
    "musicxml": ".musicxml",
    "png": ".png",
    "project": ".v2m.json",
    "wav": ".wav",
    "mp4": ".mp4",
}


@dataclass(frozen=True)
class ComposeConfig:
    """Every option of a composition; the defaults make a complete soundtrack."""

    style: str = "cinematic"
    tempo: float | None = None
    max_tempo_deviation: float = 0.10
    key: str | None = None
    mode: str | None = None
    time_signature: str = "4/4"
    energy: float = 0.0
    candidates: int | None = None  # None: 2 on CPU, 8 on a GPU (batched, nearly free there)
    seed: int = 0
    device: str | None = None
    outputs: tuple[str, ...] = OUTPUTS
    keep_audio: bool = False
    soundfont: str | None = None
    instruments: dict[str, int] = field(default_factory=dict)
    progression: tuple[str, ...] = ()
    scale_lock: str = "soft"
    weights_dir: str | None = None
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)


@dataclass(frozen=True)
class ComposeResult:
    """What a composition produced, and how long each phase took (seconds)."""

    files: dict[str, Path]
    timeline: Timeline
    score: Score
    timings: dict[str, float]
    warnings: tuple[str, ...]


def output_paths(video: Path, out_dir: Path, outputs: tuple[str, ...]) -> dict[str, Path]:
    """``NAME.mid`` etc. in ``out_dir`` for the requested outputs (NAME = the video's stem)."""
    return {kind: out_dir / f"{video.stem}{SUFFIXES[kind]}" for kind in outputs}


def _timeline_config(config: ComposeConfig) -> TimelineConfig:
    key = None
    if config.key:
        from symbolic_v2m.music.theory import parse_key

        try:
            parsed = parse_key(config.key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        key = parsed.at(0)
    try:
        meter = TimeSignature.parse(config.time_signature)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return TimelineConfig(
        tempo=config.tempo,
        max_tempo_deviation=config.max_tempo_deviation,
        meter=meter,
        key=key,
        mode=config.mode,
        controls=ControlConfig(energy=config.energy),
    )


def _weights(stage: Role, config: ComposeConfig) -> Path:
    if config.weights_dir:
        return Path(config.weights_dir) / f"{stage.value}.safetensors"
    return default_weights_path(stage)


def _markers(timeline: Timeline) -> tuple[Marker, ...]:
    markers = []
    for i, cut in enumerate(timeline.cuts, 1):
        minutes, seconds = divmod(cut.time, 60)
        markers.append(Marker(cut.tick, f"Cut {i} — {int(minutes):02d}:{seconds:05.2f}"))
    starts = timeline.bar_starts
    for section in timeline.sections:
        markers.append(Marker(int(starts[section.start_bar]), f"Section {section.index + 1}"))
    return tuple(sorted(markers, key=lambda m: (m.tick, m.text)))


def compose(
    video: Path,
    out_dir: Path,
    config: ComposeConfig = ComposeConfig(),
    force: bool = False,
    progress: Callable[[float, float], None] | None = None,
    features: VideoFeatures | None = None,
) -> ComposeResult:
    """Compose a soundtrack for ``video`` into ``out_dir`` (see the module doc)."""
    video = Path(video)
    unknown = set(config.outputs) - set(OUTPUTS)
    if unknown:
        raise ConfigError(f"unknown output(s) {', '.join(sorted(unknown))}")
    paths = output_paths(video, Path(out_dir), config.outputs)
    check_outputs(paths.values(), force, inputs=[video])
    timeline_config = _timeline_config(config)
    timings: dict[str, float] = {}
    warnings: list[str] = []

    started = time.perf_counter()
    if features is None:
        features = analyze_video(video, config.analysis, progress)
    timings["analysis"] = time.perf_counter() - started

    started = time.perf_counter()
    timeline = build_timeline(features, load_calibration(), timeline_config)
    timings["timeline"] = time.perf_counter() - started

    device = pick_device(config.device)
    candidates = config.candidates or (8 if device.type == "cuda" else 2)
    stage_config = StageConfig(candidates=candidates, sampling=SamplingConfig())
    parts: dict[Role, tuple] = {}
    seeds: dict[str, int] = {}
    models: dict[str, dict] = {}
    for offset, role in enumerate(Role):
        started = time.perf_counter()
        weights = _weights(role, config)
        model = load_model(weights, device)
        seed = config.seed * 1000 + offset
        seeds[role.value] = seed
        models[role.value] = {"weights": weights.name, "sha256": file_sha256(weights)}
        result = write_part(
            role,
            timeline,
            model,
            chords=parts.get(Role.CHORD, ()),
            melody=parts.get(Role.MELODY, ()),
            request=_request(role, config, timeline, parts),
            config=StageConfig(stage_config.candidates, stage_config.sampling, seed),
        )
        parts[role] = result.events
        timings[f"generate_{role.value}"] = time.perf_counter() - started

    started = time.perf_counter()
    score = Score(
        meters=timeline.meters,
        tempo=timeline.tempo,
        keys=(timeline.key,),
        chords=parts[Role.CHORD],
        melody=clip_notes(parts[Role.MELODY], timeline.length),
        accompaniment=clip_notes(parts[Role.ACCOMPANIMENT], timeline.length),
        phrase_starts=timeline.phrase_starts,
    ).normalised()
    try:
        arrangement = arrange(
            score,
            config.style,
            config.instruments,
            accents=timeline.strength,
            markers=_markers(timeline),
            section_ticks=tuple(int(timeline.bar_starts[s.start_bar]) for s in timeline.sections),
            velocity_scale=timeline.mood.velocity_scale,
            title=video.stem,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    timings["arrangement"] = time.perf_counter() - started

    started = time.perf_counter()
    written: dict[str, Path] = {}
    midi_path = paths.get("midi")
    if midi_path is not None:
        write_midi(arrangement, midi_path)
        written["midi"] = midi_path
    if "musicxml" in paths:
        write_musicxml(arrangement, paths["musicxml"])
        written["musicxml"] = paths["musicxml"]
    if "png" in paths:
        write_timeline_plot(features, video, paths["png"], arrangement)
        written["png"] = paths["png"]
    timings["export"] = time.perf_counter() - started

    started = time.perf_counter()
    if "wav" in paths or "mp4" in paths:
        _render(arrangement, paths, written, warnings, config, video)
    timings["render"] = time.perf_counter() - started

    if "project" in paths:
        project = Project(
            video={
                "path": str(video.resolve()),
                "name": video.name,
                "size": video.stat().st_size,
                "sha256": file_sha256(video),
                "duration": features.info.duration,
            },
            options=_options(config),
            features=features.to_dict(),
            timeline=timeline_to_dict(timeline),
            score=score_to_dict(score),
            models={"representation": representation_fingerprint(), **models},
            seeds=seeds,
            outputs={k: p.name for k, p in written.items()},
        )
        project.save(paths["project"])
        written["project"] = paths["project"]
    return ComposeResult(written, timeline, score, timings, tuple(warnings))


def _request(
    role: Role, config: ComposeConfig, timeline: Timeline, parts: dict[Role, tuple]
) -> StageRequest:
    """The theory constraints a stage gets from the options (progression, scale lock)."""
    try:
        if role is Role.CHORD and config.progression:
            return StageRequest(
                forced_chords=progression_events(config.progression, timeline.key, timeline)
            )
        if role is Role.MELODY:
            bias = scale_lock_bias(
                config.scale_lock, timeline.key, parts[Role.CHORD], timeline.length
            )
            return StageRequest(pitch_bias=bias)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return StageRequest()


def _options(config: ComposeConfig) -> dict:
    d = asdict(config)
    d["analysis"] = {k: str(v) for k, v in d["analysis"].items()}
    d["outputs"] = list(config.outputs)
    return d


def _render(
    arrangement: Arrangement,
    paths: dict[str, Path],
    written: dict[str, Path],
    warnings: list[str],
    config: ComposeConfig,
    video: Path,
) -> None:
    """WAV (FluidSynth) and MP4 (ffmpeg); a missing optional part becomes a warning."""
    import tempfile

    midi = written.get("midi")
    with tempfile.TemporaryDirectory() as tmp:
        if midi is None:
            midi = Path(tmp) / "music.mid"
            write_midi(arrangement, midi)
        wav = paths.get("wav") or Path(tmp) / "music.wav"
        try:
            render_wav(midi, wav, Path(config.soundfont) if config.soundfont else None)
        except MissingPartError as exc:
            warnings.append(f"no audio: {exc}")
            log.warning("no audio: %s", exc)
            return
        if "wav" in paths:
            written["wav"] = wav
        if "mp4" in paths:
            try:
                mux_audio(video, wav, paths["mp4"], keep_audio=config.keep_audio)
                written["mp4"] = paths["mp4"]
            except MissingPartError as exc:
                warnings.append(f"no video: {exc}")
                log.warning("no video: %s", exc)
