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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

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
from symbolic_v2m.music.score import KeyChange, Role, Score, TimeSignature, clip_notes
from symbolic_v2m.music.vocab import DURATIONS
from symbolic_v2m.project import Project, file_sha256, score_to_dict, timeline_to_dict
from symbolic_v2m.stages import StageConfig, StageRequest, write_part
from symbolic_v2m.stages.theory_constraints import (
    CHORD_TONE_BONUS,
    chord_tone_bias,
    progression_events,
    scale_lock_bias,
)
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
    section_energy: dict[int, float] = field(default_factory=dict)
    pitch_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    candidates: int | None = None  # None: 2 on CPU, 8 on a GPU (batched, nearly free there)
    seed: int = 0
    device: str | None = None
    outputs: tuple[str, ...] = OUTPUTS
    keep_audio: bool = False
    soundfont: str | None = None
    instruments: dict[str, int] = field(default_factory=dict)
    progression: tuple[str, ...] = ()
    scale_lock: str = "soft"
    #: logit bonus for chord tones on the melody's strong beats (0: the model's own choice)
    chord_tone_bonus: float = CHORD_TONE_BONUS
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
        section_energy={int(k): float(v) for k, v in config.section_energy.items()},
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
        melody=clip_notes(parts[Role.MELODY], timeline.length, DURATIONS),
        accompaniment=clip_notes(parts[Role.ACCOMPANIMENT], timeline.length, DURATIONS),
        phrase_starts=timeline.phrase_starts,
    ).normalised()
    arrangement = _arrangement(score, timeline, config, video.stem)
    timings["arrangement"] = time.perf_counter() - started
    written = _export(arrangement, features, video, paths, config, warnings, timings)

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
            tracks=_tracks(arrangement),
        )
        project.save(paths["project"])
        written["project"] = paths["project"]
    return ComposeResult(written, timeline, score, timings, tuple(warnings))


def _arrangement(score: Score, timeline: Timeline, config: ComposeConfig, title: str):
    """The score as GM tracks in the configured style, with cut and section markers."""
    try:
        return arrange(
            score,
            config.style,
            config.instruments,
            accents=timeline.strength,
            markers=_markers(timeline),
            section_ticks=tuple(int(timeline.bar_starts[s.start_bar]) for s in timeline.sections),
            velocity_scale=timeline.mood.velocity_scale,
            title=title,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _tracks(arrangement: Arrangement) -> list[dict]:
    """What the project file remembers of the tracks (to match a DAW-edited MIDI back)."""
    return [
        {"name": t.name, "role": t.role, "program": t.program, "channel": t.channel}
        for t in arrangement.tracks
    ]


def _export(
    arrangement: Arrangement,
    features: VideoFeatures,
    video: Path,
    paths: dict[str, Path],
    config: ComposeConfig,
    warnings: list[str],
    timings: dict[str, float],
) -> dict[str, Path]:
    """Write every requested output but the project file; returns what was written."""
    started = time.perf_counter()
    written: dict[str, Path] = {}
    if "midi" in paths:
        write_midi(arrangement, paths["midi"])
        written["midi"] = paths["midi"]
    if "musicxml" in paths:
        write_musicxml(arrangement, paths["musicxml"])
        written["musicxml"] = paths["musicxml"]
    if "png" in paths:
        if video.is_file():
            write_timeline_plot(features, video, paths["png"], arrangement)
            written["png"] = paths["png"]
        else:
            warnings.append(f"no timeline picture: {video} not found")
    timings["export"] = time.perf_counter() - started
    started = time.perf_counter()
    if "wav" in paths or "mp4" in paths:
        _render(arrangement, paths, written, warnings, config, video)
    timings["render"] = time.perf_counter() - started
    return written


def _request(
    role: Role, config: ComposeConfig, timeline: Timeline, parts: dict[Role, tuple]
) -> StageRequest:
    """The theory constraints a stage gets from the options (progression, scale lock)."""
    try:
        if role is Role.CHORD and config.progression:
            return StageRequest(
                forced_chords=progression_events(config.progression, timeline.key, timeline)
            )
        pitch_range = config.pitch_ranges.get(role.value)
        pitch_range = tuple(pitch_range) if pitch_range else None
        bias = _pitch_bias(
            role,
            config.scale_lock,
            timeline.key,
            parts.get(Role.CHORD),
            timeline,
            config.chord_tone_bonus,
        )
        return StageRequest(pitch_bias=bias, pitch_range=pitch_range)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _pitch_bias(
    role: Role,
    scale_lock: str,
    key: KeyChange,
    chords: tuple | None,
    timeline: Timeline,
    chord_tone_bonus: float = CHORD_TONE_BONUS,
) -> np.ndarray | None:
    """(length, 128) pitch bias of a note stage: the scale lock, for the melody plus the
    strong-beat chord-tone bonus; None for the chord stage or when nothing applies.

    The lock holds for both note parts: an out-of-key accompaniment note clashes with the
    melody as much as an out-of-key melody note does."""
    if role is Role.CHORD:
        return None
    lock = scale_lock_bias(scale_lock, key, chords or (), timeline.length)
    if role is Role.ACCOMPANIMENT:
        return lock
    if chord_tone_bonus == 0:
        return lock
    bias = chord_tone_bias(chords or (), timeline.bar_starts, timeline.length, chord_tone_bonus)
    return bias if lock is None else bias + lock


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
        if "mp4" in paths and not video.is_file():
            warnings.append(f"no video: {video} not found")
        elif "mp4" in paths:
            try:
                mux_audio(video, wav, paths["mp4"], keep_audio=config.keep_audio)
                written["mp4"] = paths["mp4"]
            except MissingPartError as exc:
                warnings.append(f"no video: {exc}")
                log.warning("no video: %s", exc)


# -- regeneration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegenerateRequest:
    """What to regenerate, under which constraints (see :func:`regenerate`).

    The span is one of ``bars`` (1-based, inclusive), ``section`` (1-based) or ``time``
    (seconds); none means the whole piece. ``stage`` is a role or ``"all"``; later stages that
    depend on a regenerated one are regenerated with it unless ``keep``.
    """

    bars: tuple[int, int] | None = None
    section: int | None = None
    time: tuple[float, float] | None = None
    stage: str = "all"
    keep: bool = False
    key: str | None = None
    progression: tuple[str, ...] = ()
    scale_lock: str | None = None
    energy: float | None = None
    seed: int = 0
    variations: int = 1
    from_midi: str | None = None
    from_musicxml: str | None = None
    video: str | None = None
    outputs: tuple[str, ...] = ("midi", "musicxml", "png", "wav", "mp4")
    revert: bool = False
    device: str | None = None


#: The request's fields an edit's history entry records (when given).
RECORDED_CONSTRAINTS = (
    "key",
    "progression",
    "scale_lock",
    "energy",
    "keep",
    "from_midi",
    "from_musicxml",
)


@dataclass(frozen=True)
class RegenerateResult:
    """The new version: files written, the bars and stages that changed, warnings."""

    files: dict[str, Path]
    bars: tuple[int, int]
    stages: tuple[str, ...]
    score: Score
    warnings: tuple[str, ...]


def _config_from_options(options: dict) -> ComposeConfig:
    fields = {k: v for k, v in options.items() if k in ComposeConfig.__dataclass_fields__}
    fields.pop("analysis", None)
    for name in ("outputs", "progression"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return ComposeConfig(**fields)


def _span(request: RegenerateRequest, timeline: Timeline) -> tuple[int, int]:
    """The bars [a, b) to regenerate; ConfigError (exit 2) names a bad span."""
    n = len(timeline.meters)
    if request.bars is not None:
        first, last = request.bars
        if not 1 <= first <= last:
            raise ConfigError(f"--bars {first}-{last}: the first bar must be 1..last")
        if last > n:
            raise ConfigError(f"--bars {first}-{last}: the piece has {n} bars")
        return first - 1, last
    if request.section is not None:
        if not 1 <= request.section <= len(timeline.sections):
            raise ConfigError(
                f"--section {request.section}: the piece has {len(timeline.sections)} sections"
            )
        section = timeline.sections[request.section - 1]
        return section.start_bar, section.end_bar
    if request.time is not None:
        start, end = request.time
        if not 0 <= start < end or start >= timeline.duration:
            raise ConfigError(
                f"--time: {start:g}-{end:g} s is not a span of the {timeline.duration:.1f} s video"
            )
        starts = timeline.bar_starts
        seconds = [timeline.tempo.seconds(int(t)) for t in starts]
        first = max(0, int(np.searchsorted(seconds, start, side="right")) - 1)
        last = min(n, int(np.searchsorted(seconds, end, side="left")))
        return first, max(last, first + 1)
    return 0, n


def _variation_path(path: Path, index: int) -> Path:
    name = path.name
    stem, dot, suffix = name.partition(".")
    return path.with_name(f"{stem}.var{index}.{suffix}") if dot else path


def regenerate(project_path: Path, request: RegenerateRequest) -> RegenerateResult:
    """Regenerate stages over a span of a composition and rewrite its outputs.

    Everything outside the span stays note for note; the project file records the edit
    (what, where, constraints, seed, the previous version) so that ``revert`` can step back.
    With ``variations`` K > 1 the first variation becomes the new version and the others are
    written beside it as ``NAME.var2.mid`` ... (MIDI).
    """
    from symbolic_v2m.music.edited import MIDI, MUSICXML, read_edited
    from symbolic_v2m.project import load_project, resolve_video, score_from_dict
    from symbolic_v2m.stages.splice import prompt_before, splice_chords, splice_notes

    project_path = Path(project_path)
    project = load_project(project_path)
    config = _config_from_options(project.options)
    features = VideoFeatures.from_dict(project.features)
    warnings: list[str] = []
    timeline = build_timeline(features, load_calibration(), _timeline_config(config))
    if [list(a) for a in timeline.tempo.anchors] != project.timeline["tempo"]:
        raise ConfigError(f"{project_path}: the timeline no longer rebuilds identically")
    out_dir = project_path.parent
    name = project_path.name.removesuffix(".v2m.json")
    paths = {k: out_dir / f"{name}{SUFFIXES[k]}" for k in request.outputs}
    # only the timeline picture and the MP4 read the video: check it (there, the same file)
    # before any work, so that a moved video is reported now and not after generating
    video = resolve_video(
        project,
        Path(request.video) if request.video else None,
        required=bool({"png", "mp4"} & set(paths)),
    )
    video_record = project.video
    if request.video:  # remember where the video is now
        video_record = project.video | {"path": str(video.resolve()), "name": video.name}
    history = list(project.history)

    if request.revert:
        if not history:
            raise ConfigError(f"{project_path}: nothing to revert (no edits recorded)")
        last = history.pop()
        score = score_from_dict(last["previous_score"])
        span, stages = tuple(last["bars"]), tuple(last["stages"])
    else:
        score = project.music()
        edited = request.from_midi or request.from_musicxml
        if request.from_midi and request.from_musicxml:
            raise ConfigError("give at most one of --from-midi, --from-musicxml")
        if edited:
            # read by bar and beat, checked against the composition before anything is written
            imported = read_edited(
                edited,
                score,
                project.tracks,
                timeline.mood.velocity_scale,
                {t.role: t.notes for t in _arrangement(score, timeline, config, name).tracks},
                MIDI if request.from_midi else MUSICXML,
            )
            warnings.extend(imported.warnings)
            for ignored in imported.ignored:
                warnings.append(f"{edited}: {ignored} ignored (it matches no track)")
            score = replace(
                score,
                melody=imported.parts.get("melody", score.melody),
                accompaniment=imported.parts.get("accompaniment", score.accompaniment),
            ).normalised()
        a, b = _span(request, timeline)
        order = [r.value for r in Role]
        if request.stage == "all":
            stages = tuple(order)
        elif request.stage in order:
            first = order.index(request.stage)
            stages = (request.stage,) if request.keep else tuple(order[first:])
        else:
            raise ConfigError(
                f"--stage {request.stage!r}: choose chord, melody, accompaniment or all"
            )
        span = (a + 1, b)
        if request.energy is not None:
            energetic = build_timeline(
                features,
                load_calibration(),
                replace(_timeline_config(config), controls=ControlConfig(energy=request.energy)),
            )
            density = {
                role: tuple(
                    energetic.density[role][i] if a <= i < b else d for i, d in enumerate(values)
                )
                for role, values in timeline.density.items()
            }
            timeline = replace(timeline, density=density)
        keys = None
        if request.key:
            from symbolic_v2m.music.theory import parse_key

            try:
                new_key = parse_key(request.key)
            except ValueError as exc:
                raise ConfigError(f"--key: {exc}") from None
            starts = timeline.bar_starts
            keys = (timeline.key, KeyChange(int(starts[a]), new_key.tonic, new_key.mode))
            if b < len(timeline.meters):
                keys += (KeyChange(int(starts[b]), timeline.key.tonic, timeline.key.mode),)
        device = pick_device(request.device or config.device)
        start_tick, end_tick = int(timeline.bar_starts[a]), int(timeline.bar_starts[b])
        span_key = keys[1] if keys else timeline.key
        versions = [score]
        for index, stage in enumerate(stages):
            role = Role(stage)
            model = load_model(_weights(role, config), device)
            rows = request.variations if index == 0 else 1
            next_versions = []
            for version in versions:
                stage_request = StageRequest(
                    prompt=prompt_before(version, role, a), end_bar=b, keys=keys
                )
                try:
                    if role is Role.CHORD and request.progression:
                        forced = progression_events(request.progression, span_key, timeline)
                        stage_request = replace(
                            stage_request,
                            forced_chords={bar: ev for bar, ev in forced.items() if a <= bar < b},
                        )
                    bias = _pitch_bias(
                        role,
                        request.scale_lock or config.scale_lock,
                        span_key,
                        version.chords,
                        timeline,
                        config.chord_tone_bonus,
                    )
                    if bias is not None:
                        stage_request = replace(stage_request, pitch_bias=bias)
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
                result = write_part(
                    role,
                    timeline,
                    model,
                    chords=version.chords,
                    melody=version.melody,
                    request=stage_request,
                    config=StageConfig(rows, SamplingConfig(), request.seed * 1000 + index),
                )
                for events in result.candidates if rows > 1 else (result.events,):
                    if role is Role.CHORD:
                        part = splice_chords(
                            version.chords, events, start_tick, end_tick, version.length
                        )
                        next_versions.append(replace(version, chords=part))
                    else:
                        part = clip_notes(
                            splice_notes(version.part(role), events, start_tick, end_tick),
                            version.length,
                            DURATIONS,
                        )
                        next_versions.append(replace(version, **{role.value: part}))
            versions = next_versions
        score = replace(versions[0], keys=keys or versions[0].keys).normalised()
        for i, variation in enumerate(versions[1:], 2):
            if "midi" in paths:
                arrangement = _arrangement(variation, timeline, config, name)
                write_midi(arrangement, _variation_path(paths["midi"], i))
        history.append(
            {
                "action": "regenerate",
                "bars": list(span),
                "stages": list(stages),
                "constraints": {
                    k: v for k, v in asdict(request).items() if k in RECORDED_CONSTRAINTS and v
                },
                "seed": request.seed,
                "variations": request.variations,
                "previous_score": project.score,
            }
        )

    arrangement = _arrangement(score, timeline, config, name)
    timings: dict[str, float] = {}
    video = video or Path(project.video["path"])  # not read: no output needs it
    written = _export(arrangement, features, video, paths, config, warnings, timings)
    updated = replace(
        project,
        video=video_record,
        score=score_to_dict(score),
        history=history,
        tracks=_tracks(arrangement),
        outputs=project.outputs | {k: p.name for k, p in written.items()},
    )
    updated.save(project_path)
    written["project"] = project_path
    return RegenerateResult(written, span, stages, score, tuple(warnings))
