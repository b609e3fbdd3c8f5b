"""The main job: video -> analysis -> timeline -> chord, melody, accompaniment -> arrangement ->
MIDI, MusicXML, timeline picture, project file, WAV, MP4, and on request stems (one MIDI and
one WAV per track, ``NAME.melody.mid`` ..., for a DAW).

Only this module and the CLI know the whole pipeline. Each phase is timed; a missing optional
system part (FluidSynth, a soundfont, ffmpeg for muxing) skips its output with a warning and the
rest completes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from symbolic_v2m.arrangement import (
    HIT_MARKER,
    SECTION_MARKER,
    Arrangement,
    Marker,
    arrange,
    track_roles,
)
from symbolic_v2m.data import load_calibration, representation_fingerprint
from symbolic_v2m.errors import ConfigError, MissingPartError
from symbolic_v2m.export import (
    OutputSet,
    check_outputs,
    check_soundfont,
    mux_audio,
    render_audio,
    write_midi,
    write_musicxml,
    write_stem_midi,
    write_timeline_plot,
    write_wav,
)
from symbolic_v2m.model import SamplingConfig, default_weights_path, load_model, pick_device
from symbolic_v2m.music.chords import chord_pitch_classes
from symbolic_v2m.music.score import KeyChange, Role, Score, TimeSignature, clip_notes
from symbolic_v2m.music.vocab import DURATIONS
from symbolic_v2m.progress import STAGE_PHASES, Progress, for_phase
from symbolic_v2m.project import (
    Project,
    decode_pictures,
    encode_pictures,
    file_sha256,
    score_to_dict,
    timeline_to_dict,
)
from symbolic_v2m.stages import StageConfig, StageRequest, write_part
from symbolic_v2m.stages.theory_constraints import (
    CHORD_TONE_BONUS,
    SOFT_PENALTY,
    StrictChords,
    check_strict_progression,
    chord_tone_bias,
    key_at,
    progression_events,
    scale_lock_bias,
    strict_set,
)
from symbolic_v2m.timeline import ControlConfig, Timeline, TimelineConfig, build_timeline
from symbolic_v2m.timeline.form import DEFAULT_VARIATION, parse_form, repeat_copies
from symbolic_v2m.timeline.hits import HIT_THRESHOLD, parse_hit_time
from symbolic_v2m.video import AnalysisConfig, VideoFeatures, analyze_video
from symbolic_v2m.video.edit_timeline import (
    check_edit_timeline,
    read_edit_timeline,
    with_edit_cuts,
)
from symbolic_v2m.video.features import VideoInfo, picture_times
from symbolic_v2m.video.probe import probe_video

log = logging.getLogger(__name__)

#: Every output there is; ``stems`` is one MIDI and one WAV per track (``NAME.melody.mid``,
#: ``NAME.melody.wav``, ...).
OUTPUTS = ("midi", "musicxml", "png", "project", "wav", "mp4", "stems")
#: What a composition writes unless told otherwise: all but the stems, which would add a WAV
#: per track (five times the mix's size for the cinematic style) that most runs do not need.
DEFAULT_OUTPUTS = ("midi", "musicxml", "png", "project", "wav", "mp4")
SUFFIXES = {
    "midi": ".mid",
    "musicxml": ".musicxml",
    "png": ".png",
    "project": ".v2m.json",
    "wav": ".wav",
    "mp4": ".mp4",
}
#: Output kinds of the stems are ``stem.ROLE.mid`` and ``stem.ROLE.wav``.
STEM = "stem."


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
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    keep_audio: bool = False
    soundfont: str | None = None
    instruments: dict[str, int] = field(default_factory=dict)
    progression: tuple[str, ...] = ()
    scale_lock: str = "soft"
    #: how far ``soft`` lowers the logits of pitches outside the key (chord tones excepted)
    scale_lock_penalty: float = SOFT_PENALTY
    #: logit bonus for chord tones on the melody's strong beats (0: the model's own choice)
    chord_tone_bonus: float = CHORD_TONE_BONUS
    weights_dir: str | None = None
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    #: the user's hit points as typed (``12.5``, ``0:12.5``, ``HH:MM:SS:FF``)
    hits: tuple[str, ...] = ()
    #: visual beats at least this strong become hit points (above 1: none)
    hit_threshold: float = HIT_THRESHOLD
    #: an editing program's timeline (EDL, FCP XML, FCPXML, Kdenlive, .otio): its cuts replace
    #: the detected ones, its markers become hit points (video/edit_timeline.py)
    timeline_file: str | None = None
    #: the form as typed (``--form "A B A C"``, ``--form 3:A``, ``--form free``); empty: planned
    #: from the video (timeline/form.py)
    form: tuple[str, ...] = ()
    #: how much of a returning section is written afresh: 0 the same notes, 1 only the chords
    variation: float = DEFAULT_VARIATION


@dataclass(frozen=True)
class ComposeResult:
    """What a composition produced, and how long each phase took (seconds)."""

    files: dict[str, Path]
    timeline: Timeline
    score: Score
    timings: dict[str, float]
    warnings: tuple[str, ...]


def output_paths(
    video: Path, out_dir: Path, outputs: tuple[str, ...], roles: tuple[str, ...] = ()
) -> dict[str, Path]:
    """``NAME.mid`` etc. in ``out_dir`` for the requested outputs (NAME = the video's stem);
    ``stems`` becomes ``NAME.ROLE.mid`` and ``NAME.ROLE.wav`` for each track role."""
    paths = {k: out_dir / f"{video.stem}{SUFFIXES[k]}" for k in outputs if k != "stems"}
    if "stems" in outputs:
        paths |= stem_paths(out_dir, video.stem, roles, ("mid", "wav"))
    return paths


def stem_paths(
    folder: Path, name: str, roles: tuple[str, ...], formats: tuple[str, ...]
) -> dict[str, Path]:
    """``{"stem.melody.mid": folder / "NAME.melody.mid", ...}`` for each role and format."""
    return {
        f"{STEM}{role}.{fmt}": folder / f"{name}.{role}.{fmt}" for role in roles for fmt in formats
    }


def _timeline_config(config: ComposeConfig, info: VideoInfo | None = None) -> TimelineConfig:
    """The timeline's options from the composition's; ConfigError (exit 2) names a bad one.
    Without the video's ``info`` (before the analysis) the hit points are only checked for
    their form; with it they are read at its frame rate and must fall inside it."""
    hits: list[float] = []
    for text in config.hits:
        try:
            seconds = parse_hit_time(text, float(info.fps) if info else None)
        except ValueError as exc:
            raise ConfigError(f"--hit {exc}") from None
        if info is not None and not 0 <= seconds < info.duration:
            raise ConfigError(f"--hit {text!r}: the video is {info.duration:.2f} s long")
        hits.append(seconds)
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
    try:
        form = replace(parse_form(tuple(config.form)), variation=config.variation)
    except ValueError as exc:
        raise ConfigError(f"--form: {exc}") from None
    if not 0.0 <= config.variation <= 1.0:
        raise ConfigError(f"--variation {config.variation:g}: choose 0..1")
    return TimelineConfig(
        tempo=config.tempo,
        max_tempo_deviation=config.max_tempo_deviation,
        meter=meter,
        key=key,
        mode=config.mode,
        controls=ControlConfig(energy=config.energy),
        section_energy={int(k): float(v) for k, v in config.section_energy.items()},
        hit_threshold=config.hit_threshold,
        hits=tuple(hits),
        form=form,
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
        # the form letter first: MuseScore shows the mark as a rehearsal letter
        text = f"{SECTION_MARKER} {section.index + 1}"
        if section.label:
            text = f"{section.label} — {text}"
        markers.append(Marker(int(starts[section.start_bar]), text))
    for i, hit in enumerate(timeline.hits, 1):
        minutes, seconds = divmod(hit.time, 60)
        mark = f"{HIT_MARKER} {i} — {int(minutes):02d}:{seconds:05.2f}"
        markers.append(Marker(hit.tick, mark + (" (yours)" if hit.source == "user" else "")))
    # at one tick the section's letter leads (a cut that starts a section shares its mark)
    return tuple(sorted(markers, key=lambda m: (m.tick, SECTION_MARKER not in m.text, m.text)))


def compose(
    video: Path,
    out_dir: Path,
    config: ComposeConfig = ComposeConfig(),
    force: bool = False,
    progress: Progress | None = None,
    features: VideoFeatures | None = None,
    on_commit: Callable[[], None] | None = None,
) -> ComposeResult:
    """Compose a soundtrack for ``video`` into ``out_dir`` (see the module doc).

    The outputs replace the folder's previous set all together or not at all
    (:class:`~symbolic_v2m.export.OutputSet`); ``on_commit`` is called the moment they have.
    ``progress(phase, done, total)`` follows every phase (:mod:`symbolic_v2m.progress`)."""
    video = Path(video)
    unknown = set(config.outputs) - set(OUTPUTS)
    if unknown:
        raise ConfigError(f"unknown output(s) {', '.join(sorted(unknown))}")
    try:
        roles = track_roles(config.style, config.instruments)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    paths = output_paths(video, Path(out_dir), config.outputs, roles)
    check_outputs(paths.values(), force, inputs=[video])
    timings: dict[str, float] = {}
    warnings: list[str] = []
    _check_soundfont(config.soundfont, paths, warnings)
    timeline_config = _timeline_config(config)
    edit = None
    if config.timeline_file:  # read before any work; an EDL at the video's frame rate
        fps = probe_video(video).fps
        edit = read_edit_timeline(Path(config.timeline_file), float(fps) if fps else None)

    started = time.perf_counter()
    if features is None:
        features = analyze_video(video, config.analysis, for_phase(progress, "analysing"))
    if edit is not None:  # the editor's cuts for the detected ones, its markers as hit points
        check_edit_timeline(edit, features.info)
        features = with_edit_cuts(features, edit)
        config = replace(config, hits=config.hits + tuple(f"{t:.3f}" for t in edit.hits))
    timings["analysis"] = time.perf_counter() - started

    started = time.perf_counter()
    timeline_config = _timeline_config(config, features.info)  # the hit points, at its rate
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
            progress=for_phase(progress, STAGE_PHASES[role.value]),
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
    with OutputSet(paths) as outputs:
        produced = _export(
            arrangement, features, video, outputs, config, warnings, timings, progress
        )
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
                outputs={k: p.name for k, p in paths.items() if k in produced},
                tracks=_tracks(arrangement),
                pictures=encode_pictures(features.pictures),
            )
            project.save(outputs.path("project"))
        committed = outputs.commit(on_commit)
    warnings.extend(_removed_note(committed.removed))
    return ComposeResult(committed.files, timeline, score, timings, tuple(warnings))


def _check_soundfont(soundfont: str | None, paths: dict[str, Path], warnings: list[str]) -> None:
    """A ``--soundfont`` that FluidSynth cannot load is bad input, found before any work
    (ConfigError, exit 2); without FluidSynth itself the audio is skipped later, with a warning.
    """
    if not soundfont or not _renders_audio(paths):
        return
    try:
        check_soundfont(Path(soundfont))
    except MissingPartError:
        pass  # no FluidSynth: _render says so once, as for any missing part


def _renders_audio(kinds: Iterable[str]) -> bool:
    """Whether the outputs ``kinds`` include audio: the WAV, the MP4 or a stem's WAV."""
    return any(kind in ("wav", "mp4") or kind.endswith(".wav") for kind in kinds)


def _removed_note(removed: dict[str, Path]) -> list[str]:
    """One line for the previous run's files that this run could not remake and removed (so
    that no stale audio or video stays beside new music)."""
    if not removed:
        return []
    names = ", ".join(p.name for p in removed.values())
    return [f"removed the previous {names}: this run could not make them (see above)"]


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
            hit_ticks=tuple(h.tick for h in timeline.hits),
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
    outputs: OutputSet,
    config: ComposeConfig,
    warnings: list[str],
    timings: dict[str, float],
    progress: Progress | None = None,
) -> set[str]:
    """Write every requested output but the project file into ``outputs``; returns the kinds
    written (an optional part that is missing leaves its kinds out, with a warning).

    The MIDI file comes first (everything else is made from the same arrangement, the audio
    from the file). Then the audio (FluidSynth, ffmpeg: native code that runs without Python's
    lock) is rendered in a helper thread while this one writes the score and the picture, so
    the two cost about the longer of them, not their sum. Its progress is passed on by this
    thread once the export's is done (a display shows one phase at a time and is drawn from
    one thread: :class:`_RelayedProgress`). If anything fails or stops the run here, the
    helper is told to stop and is waited for before the error goes on, so that no file is
    written into the output set after it is thrown away.
    """
    started = time.perf_counter()
    kinds = set(outputs.kinds)
    written: set[str] = set()
    stems = [(f"{STEM}{t.role}.mid", t) for t in arrangement.tracks]
    stems = [(kind, track) for kind, track in stems if kind in kinds]
    files = ("midi" in kinds) + len(stems) + ("musicxml" in kinds) + ("png" in kinds)
    exported = for_phase(progress, "export") or (lambda done, total: None)
    exported(0, files)
    if "midi" in kinds:
        write_midi(arrangement, outputs.path("midi"))
        written.add("midi")
        exported(len(written), files)
    for kind, track in stems:
        write_stem_midi(arrangement, track, outputs.path(kind))
        written.add(kind)
        exported(len(written), files)
    render = _renders_audio(kinds)
    stop = threading.Event()
    rendered = _RelayedProgress(for_phase(progress, "render"))
    render_warnings: list[str] = []
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-render") as pool:
        job = (
            pool.submit(
                _render, arrangement, outputs, render_warnings, config, video, rendered, stop
            )
            if render
            else None
        )
        try:
            if "musicxml" in kinds:
                write_musicxml(arrangement, outputs.path("musicxml"))
                written.add("musicxml")
                exported(len(written), files)
            if "png" in kinds:
                if video.is_file():
                    write_timeline_plot(features, video, outputs.path("png"), arrangement)
                    written.add("png")
                else:
                    warnings.append(f"no timeline picture: {video} not found")
                exported(files, files)
            timings["export"] = time.perf_counter() - started
            if job is not None:
                while not wait([job], timeout=_RELAY_INTERVAL).done:
                    rendered.forward()
                rendered.forward()
                rendered_kinds, timings["render"] = job.result()
                written |= rendered_kinds
            else:
                timings["render"] = 0.0
        except BaseException:
            stop.set()  # the pool's exit waits for the helper, which stops soon
            raise
    warnings.extend(render_warnings)
    return written


#: How often (seconds) the main thread passes the helper's render progress on.
_RELAY_INTERVAL = 0.1


class _RelayedProgress:
    """Progress reported in a helper thread, passed on in the main thread.

    The helper's calls only keep the latest report; :meth:`forward`, called by the thread
    that owns the display, passes it on if it is new. A display is never drawn from two
    threads (a terminal's bar has a lock that an interrupt in the main thread can leave
    held, and a helper waiting on it would never finish), and the render's bar waits until
    the export's is done.
    """

    def __init__(self, callback: Callable[[float, float], None] | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._latest: tuple[float, float] | None = None
        self._shown: tuple[float, float] | None = None

    def __call__(self, done: float, total: float) -> None:
        with self._lock:
            self._latest = (done, total)

    def forward(self) -> None:
        """Pass the latest report on, if there is a new one (in the display's thread)."""
        with self._lock:
            latest = self._latest
        if latest is not None and latest != self._shown and self._callback is not None:
            self._shown = latest
            self._callback(*latest)


def _request(
    role: Role, config: ComposeConfig, timeline: Timeline, parts: dict[Role, tuple]
) -> StageRequest:
    """The theory constraints a stage gets from the options (progression, scale lock, range)."""
    pitch_range = config.pitch_ranges.get(role.value)
    theory = _theory_request(
        role,
        config.scale_lock,
        config.progression,
        (timeline.key,),
        parts.get(Role.CHORD, ()),
        timeline,
        config.chord_tone_bonus,
        config.scale_lock_penalty,
    )
    return StageRequest(
        pitch_range=tuple(pitch_range) if pitch_range else None,
        copies=timeline.form.copies_for(role.value),
        **theory,
    )


def _theory_request(
    role: Role,
    scale_lock: str,
    progression: tuple[str, ...],
    keys: tuple[KeyChange, ...],
    chords: tuple,
    timeline: Timeline,
    chord_tone_bonus: float,
    soft_penalty: float = SOFT_PENALTY,
    bars: tuple[int, int] | None = None,
) -> dict:
    """One stage's theory constraints as :class:`StageRequest` fields, for both jobs.

    The chord stage gets the progression's chords (those of ``bars`` [a, b) when given, read in
    the key at bar a) and, under ``strict``, the mask that keeps every chord in the key's
    strict set; a note stage gets its pitch bias. ConfigError (exit 2) names a bad option, or a
    progression chord that a strict lock cannot keep (a usage error rather than a chord that
    silently breaks the lock, or a lock that silently changes the chord).
    """
    first, end = bars or (0, len(timeline.meters))
    key = key_at(keys, int(timeline.bar_starts[first]))
    try:
        if role is not Role.CHORD:
            return {
                "pitch_bias": _pitch_bias(
                    role, scale_lock, keys, chords, timeline, chord_tone_bonus, soft_penalty
                )
            }
        fields: dict = {}
        if progression:
            forced = progression_events(progression, key, timeline)
            if scale_lock == "strict":
                check_strict_progression(progression, key)
            fields["forced_chords"] = {b: ev for b, ev in forced.items() if first <= b < end}
        if scale_lock == "strict":
            fields["hooks"] = (StrictChords(keys, timeline.bar_starts),)
        return fields
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _pitch_bias(
    role: Role,
    scale_lock: str,
    keys: KeyChange | tuple[KeyChange, ...],
    chords: tuple | None,
    timeline: Timeline,
    chord_tone_bonus: float = CHORD_TONE_BONUS,
    soft_penalty: float = SOFT_PENALTY,
) -> np.ndarray | None:
    """(length, 128) pitch bias of a note stage: the scale lock, for the melody plus the
    strong-beat chord-tone bonus; None for the chord stage or when nothing applies.

    The lock holds for both note parts: an out-of-key accompaniment note clashes with the
    melody as much as an out-of-key melody note does."""
    if role is Role.CHORD:
        return None
    lock = scale_lock_bias(scale_lock, keys, chords or (), timeline.length, soft_penalty)
    if role is Role.ACCOMPANIMENT:
        return lock
    if chord_tone_bonus == 0:
        return lock
    bias = chord_tone_bias(chords or (), timeline.bar_starts, timeline.length, chord_tone_bonus)
    # under strict, -inf + bonus stays -inf: the bonus never lets a note out of the set
    return bias if lock is None else bias + lock


def _options(config: ComposeConfig) -> dict:
    d = asdict(config)
    d["analysis"] = {k: str(v) for k, v in d["analysis"].items()}
    d["outputs"] = list(config.outputs)
    return d


def _render(
    arrangement: Arrangement,
    outputs: OutputSet,
    warnings: list[str],
    config: ComposeConfig,
    video: Path,
    progress: Callable[[float, float], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[set[str], float]:
    """WAV and stem WAVs (FluidSynth, one rendering) and MP4 (ffmpeg) into ``outputs``; returns
    the kinds written and the seconds it took. A missing optional part becomes a warning. Runs
    in a helper thread (:func:`_export`): a set ``stop`` ends it early."""
    import tempfile

    started = time.perf_counter()
    kinds = set(outputs.kinds)
    written: set[str] = set()
    # scratch files beside the outputs, on the disk that takes them (the system's temporary
    # folder can be memory, and a long piece's tracks are hundreds of MB)
    with tempfile.TemporaryDirectory(dir=outputs.staging) as tmp:
        midi = outputs.path("midi") if "midi" in kinds else Path(tmp) / "music.mid"
        if "midi" not in kinds:
            write_midi(arrangement, midi)
        stem_wavs = [f"{STEM}{track.role}.wav" for track in arrangement.tracks]
        try:
            rendering = render_audio(
                midi,
                Path(config.soundfont) if config.soundfont else None,
                progress=progress,
                stop=stop,
                scratch=Path(tmp),
                stems=any(kind in kinds for kind in stem_wavs),  # without: shared synthesizers
            )
        except MissingPartError as exc:
            warnings.append(f"no audio: {exc}")
            log.warning("no audio: %s", exc)
            return written, time.perf_counter() - started
        with rendering:
            wav = outputs.path("wav") if "wav" in kinds else Path(tmp) / "music.wav"
            if "wav" in kinds or "mp4" in kinds:
                write_wav(wav, rendering)
            if "wav" in kinds:
                written.add("wav")
            for track, kind in zip(arrangement.tracks, stem_wavs, strict=True):
                if kind in kinds:
                    write_wav(outputs.path(kind), rendering, track.name)
                    written.add(kind)
        if "mp4" in kinds and not video.is_file():
            warnings.append(f"no video: {video} not found")
        elif "mp4" in kinds:
            try:
                mux_audio(video, wav, outputs.path("mp4"), keep_audio=config.keep_audio, stop=stop)
                written.add("mp4")
            except MissingPartError as exc:
                warnings.append(f"no video: {exc}")
                log.warning("no video: %s", exc)
    return written, time.perf_counter() - started


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
    #: new hit points, added to the project's (which are kept)
    hits: tuple[str, ...] = ()
    #: a new form (as ``ComposeConfig.form``): the sections whose music it changes are rewritten
    form: tuple[str, ...] = ()
    #: with ``section``: leave the section's later repeats as they are
    only_this: bool = False


#: The request's fields an edit's history entry records (when given).
RECORDED_CONSTRAINTS = (
    "key",
    "progression",
    "scale_lock",
    "energy",
    "keep",
    "from_midi",
    "from_musicxml",
    "form",
    "only_this",
)


@dataclass(frozen=True)
class RegenerateResult:
    """The new version: files written, the bars and stages that changed, warnings."""

    files: dict[str, Path]
    bars: tuple[int, int]
    stages: tuple[str, ...]
    score: Score
    warnings: tuple[str, ...]


#: The soft lock's strength before it was an option (2026-12-07): a project that does not name
#: its own was composed with this one, and regenerates with it.
_FORMER_SOFT_PENALTY = 2.5


def _config_from_options(options: dict) -> ComposeConfig:
    """The composition's options from its project file. A project composed before the form
    existed has no ``form``: its music repeats nothing, so it is read as ``free`` (otherwise a
    regenerated section would drag sections that never were its repeats along). One composed
    before the soft lock's strength was an option keeps the strength it was composed with."""
    fields = {k: v for k, v in options.items() if k in ComposeConfig.__dataclass_fields__}
    fields.pop("analysis", None)
    fields.setdefault("form", ("free",))
    fields.setdefault("scale_lock_penalty", _FORMER_SOFT_PENALTY)
    for name in ("outputs", "progression", "hits", "form"):
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


@dataclass(frozen=True)
class _Job:
    """What every step of a regeneration reads: the project and what is rebuilt from it."""

    project_path: Path
    project: Project
    config: ComposeConfig
    features: VideoFeatures
    timeline: Timeline
    name: str  # the outputs' common stem (``NAME.mid``, ...)
    paths: dict[str, Path]
    video: Path | None  # checked, when an output reads it; else None (not read)
    video_record: dict  # the project's record of the video, where it is now


@dataclass(frozen=True)
class _Plan:
    """Where and what to regenerate: bars [first, end), the stages in order, the keys."""

    first: int
    end: int
    stages: tuple[str, ...]
    timeline: Timeline  # the job's, with the span's --energy applied
    keys: tuple[KeyChange, ...] | None  # None: the composition's own key throughout
    #: later spans written with it: the repeats of a regenerated section, which copy it
    repeats: tuple[tuple[int, int], ...] = ()
    #: bar -> source bar, per stage, that the spans honour (the form's; a repeat's redirected
    #: to the regenerated section)
    copies: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def span(self) -> tuple[int, int]:
        """The bars asked for, [first, end)."""
        return (self.first, self.end)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """Every span written, in order: the asked one, then the repeats."""
        return ((self.first, self.end), *self.repeats)

    @property
    def span_key(self) -> KeyChange:
        """The key the span is written in."""
        return self.keys[1] if self.keys else self.timeline.key


def regenerate(
    project_path: Path,
    request: RegenerateRequest,
    on_commit: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> RegenerateResult:
    """Regenerate stages over a span of a composition and rewrite its outputs.

    Everything outside the span stays note for note; the project file records the edit
    (what, where, constraints, seed, the previous version) so that ``revert`` can step back.
    With ``variations`` K > 1 the first variation becomes the new version and the others are
    written beside it as ``NAME.var2.mid`` ... (MIDI). When the composition has stems, the stem
    files whose content changed are rewritten, and only those.
    """
    from symbolic_v2m.project import score_from_dict

    job = _open_job(Path(project_path), request)
    warnings: list[str] = []
    _check_project_soundfont(job)
    variations: list[Score] = []
    history = list(job.project.history)
    if request.revert:
        if not history:
            raise ConfigError(f"{job.project_path}: nothing to revert (no edits recorded)")
        last = history.pop()
        score = score_from_dict(last["previous_score"])
        span, stages = tuple(last["bars"]), tuple(last["stages"])
        if "previous_form" in last:  # the edit changed the form: the old one comes back
            job = _with_form(job, tuple(last["previous_form"]))
        timeline = job.timeline
    else:
        score = job.project.music()
        if request.from_midi and request.from_musicxml:
            raise ConfigError("give at most one of --from-midi, --from-musicxml")
        if request.from_midi or request.from_musicxml:
            score = _read_edited_file(request, score, job, warnings)
        plan = _resolve_span(request, job)
        versions = _write_stages(plan, score, request, job, progress)
        score = _splice_keys(versions[0], plan)
        if (request.scale_lock or job.config.scale_lock) == "strict":
            warnings.extend(_kept_outside_the_key(score, plan))
        variations = versions[1:]
        span, stages, timeline = (plan.first + 1, plan.end), plan.stages, plan.timeline
        entry = _history_entry(request, span, stages, job.project.score, plan.repeats)
        if request.form:
            entry["previous_form"] = list(job.project.options.get("form", ["free"]))
        history.append(entry)
    written = _export_version(
        score, timeline, history, job, warnings, variations, on_commit, progress
    )
    return RegenerateResult(written, span, stages, score, tuple(warnings))


def _recorded_outputs(
    before: dict[str, str], requested: dict[str, Path], produced: set[str]
) -> dict[str, str]:
    """The project's record of its outputs after a run: what it made, and what earlier runs
    made that this one was not asked for (a file it was asked for but could not make is
    removed with the rest of the old set, so it leaves the record too)."""
    kept = {k: name for k, name in before.items() if k not in requested or k in produced}
    return kept | {k: p.name for k, p in requested.items() if k in produced}


def _check_project_soundfont(job: _Job) -> None:
    """The soundfont the project was rendered with must still load before any work (the
    project never records one that did not)."""
    try:
        _check_soundfont(job.config.soundfont, job.paths, [])
    except ConfigError as exc:
        raise ConfigError(
            f"{job.project_path}: the project's {exc}; regenerate with --only midi, or put the "
            "soundfont back"
        ) from None


def _open_job(project_path: Path, request: RegenerateRequest) -> _Job:
    """Load the project, rebuild its timeline (which must come out as recorded) and check the
    video when an output needs it, before any work."""
    from symbolic_v2m.project import load_project, resolve_video

    project = load_project(project_path)
    config = _config_from_options(project.options)
    if request.hits:
        config = replace(config, hits=config.hits + tuple(request.hits))
    if request.form:
        config = replace(config, form=tuple(request.form))
    features = VideoFeatures.from_dict(project.features)
    count = len(picture_times(features.info.duration))
    features = replace(features, pictures=decode_pictures(project.pictures, count))
    timeline_config = _timeline_config(config, features.info)
    timeline = build_timeline(features, load_calibration(), timeline_config)
    if [list(a) for a in timeline.tempo.anchors] != project.timeline["tempo"]:
        raise ConfigError(f"{project_path}: the timeline no longer rebuilds identically")
    name = project_path.name.removesuffix(".v2m.json")
    paths = {k: project_path.parent / f"{name}{SUFFIXES[k]}" for k in request.outputs}
    if any(kind.startswith(STEM) for kind in project.outputs):
        # the composition has stems: keep them in step (their WAVs only with the audio)
        formats = ("mid", "wav") if "wav" in paths else ("mid",)
        try:
            roles = track_roles(config.style, config.instruments)
        except ValueError as exc:  # a hand-edited style in the project's options
            raise ConfigError(f"{project_path}: {exc}") from None
        paths |= stem_paths(project_path.parent, name, roles, formats)
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
    return _Job(project_path, project, config, features, timeline, name, paths, video, video_record)


def _with_form(job: _Job, form: tuple[str, ...]) -> _Job:
    """The job with another form: its config and its timeline rebuilt."""
    config = replace(job.config, form=form)
    timeline_config = _timeline_config(config, job.features.info)
    timeline = build_timeline(job.features, load_calibration(), timeline_config)
    return replace(job, config=config, timeline=timeline)


def _read_edited_file(
    request: RegenerateRequest, score: Score, job: _Job, warnings: list[str]
) -> Score:
    """``score`` with the parts found in a DAW- or notation-edited file (``--from-midi`` /
    ``--from-musicxml``) in place of the composed ones, read by bar and beat and checked against
    the composition before anything is written; tracks that match no part are ignored, with a
    warning each."""
    from symbolic_v2m.music.edited import MIDI, MUSICXML, read_edited

    edited = request.from_midi or request.from_musicxml
    arrangement = _arrangement(score, job.timeline, job.config, job.name)
    imported = read_edited(
        edited,
        score,
        job.project.tracks,
        job.timeline.mood.velocity_scale,
        {t.role: t.notes for t in arrangement.tracks},
        MIDI if request.from_midi else MUSICXML,
    )
    warnings.extend(imported.warnings)
    for ignored in imported.ignored:
        warnings.append(f"{edited}: {ignored} ignored (it matches no track)")
    return replace(
        score,
        melody=imported.parts.get("melody", score.melody),
        accompaniment=imported.parts.get("accompaniment", score.accompaniment),
    ).normalised()


def _resolve_span(request: RegenerateRequest, job: _Job) -> _Plan:
    """The bars, the stages (with those that depend on them unless ``keep``), the span's
    energy and key; ConfigError (exit 2) names a bad option."""
    timeline = job.timeline
    a, b = _span(request, timeline)
    order = [r.value for r in Role]
    if request.stage == "all":
        stages = tuple(order)
    elif request.stage in order:
        first = order.index(request.stage)
        stages = (request.stage,) if request.keep else tuple(order[first:])
    else:
        raise ConfigError(f"--stage {request.stage!r}: choose chord, melody, accompaniment or all")
    if request.energy is not None:
        energetic = build_timeline(
            job.features,
            load_calibration(),
            replace(_timeline_config(job.config), controls=ControlConfig(energy=request.energy)),
        )
        density = {
            role: tuple(
                energetic.density[role][i] if a <= i < b else d for i, d in enumerate(values)
            )
            for role, values in timeline.density.items()
        }
        timeline = replace(timeline, density=density)
    new_key = None
    if request.key:
        from symbolic_v2m.music.theory import parse_key

        try:
            new_key = parse_key(request.key)
        except ValueError as exc:
            raise ConfigError(f"--key: {exc}") from None
    if request.form:
        if any(x is not None for x in (request.bars, request.section, request.time)):
            raise ConfigError("--form rewrites the sections it changes: give no span with it")
        spans = _form_changes(job, timeline)
        if not spans:
            raise ConfigError("--form: no section's music changes under that form")
        (a, b), *repeats = spans
        copies = {stage: timeline.form.copies_for(stage) for stage in stages}
        keys = _span_keys(timeline, new_key, spans)
        return _Plan(a, b, stages, timeline, keys, tuple(repeats), copies)
    repeats: list[tuple[int, int]] = []
    if request.section is not None and not request.only_this:
        repeats = [
            (timeline.sections[i].start_bar, timeline.sections[i].end_bar)
            for i in timeline.form.repeats_of(request.section - 1)
        ]
    copies: dict[str, dict[int, int]] = {}
    for stage in stages:
        # inside the span the form's own copies (an answering phrase, an echo); none from
        # outside it: the span is asked to be new
        inside = {
            bar: source
            for bar, source in timeline.form.copies_for(stage).items()
            if a <= source < bar < b
        }
        for start, end in repeats:  # the repeats follow the regenerated section
            for c in repeat_copies(
                (a, b),
                (start, end),
                timeline.meters,
                timeline.density["melody"],
                job.config.variation,
            ):
                if stage in c.parts:
                    inside[c.bar] = c.source
        copies[stage] = inside
    keys = _span_keys(timeline, new_key, [(a, b), *repeats])  # the repeats follow, key too
    return _Plan(a, b, stages, timeline, keys, tuple(repeats), copies)


def _span_keys(timeline: Timeline, key, spans: list[tuple[int, int]]):  # noqa: ANN001 - Key
    """The key changes that put ``spans`` (sorted, disjoint) in ``key`` and the rest in the
    composition's key; None without a ``key``."""
    if key is None:
        return None
    starts = timeline.bar_starts
    home = timeline.key
    keys = [home]
    for i, (a, b) in enumerate(spans):
        if not (i and spans[i - 1][1] == a):
            keys.append(KeyChange(int(starts[a]), key.tonic, key.mode))
        if b < len(timeline.meters) and not (i + 1 < len(spans) and spans[i + 1][0] == b):
            keys.append(KeyChange(int(starts[b]), home.tonic, home.mode))
    return tuple(keys)


def _form_changes(job: _Job, timeline: Timeline) -> list[tuple[int, int]]:
    """The sections (as bar spans) whose copies differ between the project's form and the
    timeline's new one: the music a --form change rewrites."""
    recorded = job.project.timeline.get("form") or {}
    old = {(c["bar"], c["source"], tuple(c["parts"])) for c in recorded.get("copies", [])}
    new = {(c.bar, c.source, c.parts) for c in timeline.form.copies}
    changed = {bar for bar, _, _ in old ^ new}
    return [
        (s.start_bar, s.end_bar)
        for s in timeline.sections
        if any(s.start_bar <= bar < s.end_bar for bar in changed)
    ]


def _write_stages(
    plan: _Plan,
    score: Score,
    request: RegenerateRequest,
    job: _Job,
    progress: Progress | None = None,
) -> list[Score]:
    """Write the plan's stages over its spans, in order, each over the versions of the one
    before; the first stage writes ``variations`` versions, the later ones one per version
    (their bars counted together in the stage's progress)."""
    device = pick_device(request.device or job.config.device)
    versions = [score]
    for index, stage in enumerate(plan.stages):
        role = Role(stage)
        model = load_model(_weights(role, job.config), device)
        rows = request.variations if index == 0 else 1
        seed = request.seed * 1000 + index
        phase = for_phase(progress, STAGE_PHASES[stage])
        copies = plan.copies.get(stage, {})
        next_versions = []
        for done, version in enumerate(versions):
            if not copies and not plan.repeats:  # one call writes every variation (a batch)
                result = write_part(
                    role,
                    plan.timeline,
                    model,
                    **_span_inputs(role, version, plan, request, job.config, plan.span),
                    config=StageConfig(rows, SamplingConfig(), seed),
                    progress=_one_of(phase, done, len(versions)),
                )
                for events in result.candidates if rows > 1 else (result.events,):
                    next_versions.append(_splice(version, role, events, plan.timeline, plan.span))
                continue
            # copies are made from the music written so far: one variation, span after span
            jobs = rows * len(plan.spans)
            for row in range(rows):
                varied = version
                for k, span in enumerate(plan.spans):
                    part = done * jobs + row * len(plan.spans) + k
                    result = write_part(
                        role,
                        plan.timeline,
                        model,
                        **_span_inputs(role, varied, plan, request, job.config, span),
                        config=StageConfig(1, SamplingConfig(), seed + 7919 * row),
                        progress=_one_of(phase, part, len(versions) * jobs),
                    )
                    varied = _splice(varied, role, result.events, plan.timeline, span)
                next_versions.append(varied)
        versions = next_versions
    return versions


def _span_inputs(
    role: Role,
    version: Score,
    plan: _Plan,
    request: RegenerateRequest,
    config: ComposeConfig,
    span: tuple[int, int],
) -> dict:
    """What ``write_part`` is given over a span: the earlier stages' parts and the request."""
    return {
        "chords": version.chords,
        "melody": version.melody,
        "request": _span_request(role, version, plan, request, config, span),
    }


def _one_of(
    progress: Callable[[float, float], None] | None, index: int, count: int
) -> Callable[[float, float], None] | None:
    """Progress of the ``index``-th of ``count`` equal jobs, reported as part of all of them."""
    if progress is None:
        return None
    return lambda done, total: progress(index * total + done, count * total)


def _span_request(
    role: Role,
    version: Score,
    plan: _Plan,
    request: RegenerateRequest,
    config: ComposeConfig,
    span: tuple[int, int],
) -> StageRequest:
    """A stage's request over a span of bars: the prompt before it, where to stop, the keys,
    the form's copies in it, and the theory constraints (a progression for the chords; the
    scale lock and chord tones)."""
    from symbolic_v2m.stages.splice import prompt_before

    first, end = span

    theory = _theory_request(
        role,
        request.scale_lock or config.scale_lock,
        request.progression,
        plan.keys or (plan.timeline.key,),
        version.chords,
        plan.timeline,
        config.chord_tone_bonus,
        config.scale_lock_penalty,
        bars=(first, end),
    )
    copies = {b: s for b, s in plan.copies.get(role.value, {}).items() if first <= b < end}
    return StageRequest(
        prompt=prompt_before(version, role, first),
        end_bar=end,
        keys=plan.keys,
        copies=copies,
        given=version.part(role) if copies else (),
        **{k: v for k, v in theory.items() if v is not None},
    )


def _splice(
    version: Score, role: Role, events: tuple, timeline: Timeline, span: tuple[int, int]
) -> Score:
    """``version`` with ``role``'s part over the span (bars) taken from ``events``."""
    from symbolic_v2m.stages.splice import splice_chords, splice_notes

    start = int(timeline.bar_starts[span[0]])
    end = int(timeline.bar_starts[span[1]])
    if role is Role.CHORD:
        part = splice_chords(version.chords, events, start, end, version.length)
        return replace(version, chords=part)
    notes = splice_notes(version.part(role), events, start, end)
    return replace(version, **{role.value: clip_notes(notes, version.length, DURATIONS)})


def _kept_outside_the_key(score: Score, plan: _Plan) -> list[str]:
    """Under ``strict``, one warning when a part the span kept (a stage not regenerated, or one
    read from an edited file) has notes or chords outside the span key's strict set: the lock
    holds for what is written, and these were not (with the chords go the bass and pad)."""
    start = int(plan.timeline.bar_starts[plan.first])
    end = int(plan.timeline.bar_starts[plan.end])
    allowed = strict_set(plan.span_key)
    outside = {}
    if Role.CHORD.value not in plan.stages:
        outside["chord"] = sum(
            1
            for c in score.chords
            if start <= c.onset < end and chord_pitch_classes(c.root, c.quality, c.bass) - allowed
        )
    for role in (Role.MELODY, Role.ACCOMPANIMENT):
        if role.value not in plan.stages:
            outside[role.value] = sum(
                1
                for n in score.part(role)
                if start <= n.onset < end and n.pitch % 12 not in allowed
            )
    found = {part: n for part, n in outside.items() if n}
    if not found:
        return []
    listed = ", ".join(f"{n} in the {part} part" for part, n in found.items())
    return [
        f"--scale-lock strict: what the span kept has events outside {plan.span_key.name} "
        f"({listed}) in bars {plan.first + 1}-{plan.end}; regenerate those stages too to bring "
        "them into the key"
    ]


def _splice_keys(version: Score, plan: _Plan) -> Score:
    """The new version with the span's key change (if any) in its keys."""
    return replace(version, keys=plan.keys or version.keys).normalised()


def _write_variations(
    variations: list[Score], timeline: Timeline, job: _Job, outputs: OutputSet
) -> None:
    """The versions after the first as ``NAME.var2.mid`` ... beside the MIDI (when written)."""
    if "midi" not in job.paths:
        return
    for i, variation in enumerate(variations, 2):
        arrangement = _arrangement(variation, timeline, job.config, job.name)
        final = _variation_path(job.paths["midi"], i)
        write_midi(arrangement, outputs.add(f"var{i}", final))


def _history_entry(
    request: RegenerateRequest,
    span: tuple[int, int],
    stages: tuple[str, ...],
    previous: dict,
    repeats: tuple[tuple[int, int], ...] = (),
) -> dict:
    """The project's record of one regeneration, with the version before it (for revert);
    ``repeats`` are the later spans rewritten with it (0-based [start, end) bars)."""
    return {
        "action": "regenerate",
        "bars": list(span),
        "repeats": [[a + 1, b] for a, b in repeats],
        "stages": list(stages),
        "constraints": {
            k: v for k, v in asdict(request).items() if k in RECORDED_CONSTRAINTS and v
        },
        "seed": request.seed,
        "variations": request.variations,
        "previous_score": previous,
    }


#: What a regeneration may change in the project's timeline record (the rest is the video's).
_EDITABLE_TIMELINE = ("hits", "sections", "form")


def _export_version(
    score: Score,
    timeline: Timeline,
    history: list[dict],
    job: _Job,
    warnings: list[str],
    variations: list[Score],
    on_commit: Callable[[], None] | None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Rewrite the outputs for the new version and save the project file with the edit, all
    as one set; a stem that comes out byte for byte as it was is left untouched and is not in
    the result (what a DAW has imported stays valid)."""
    project = job.project
    arrangement = _arrangement(score, timeline, job.config, job.name)
    video = job.video or Path(project.video["path"])  # not read: no output needs it
    with OutputSet(job.paths | {"project": job.project_path}) as outputs:
        _write_variations(variations, timeline, job, outputs)
        produced = _export(
            arrangement, job.features, video, outputs, job.config, warnings, {}, progress
        )
        updated = replace(
            project,
            video=job.video_record,
            # new hit points (--hit) stay with the project, for every later run
            # and a new form (--form) is the project's from now on
            options=project.options
            | {"hits": list(job.config.hits), "form": list(job.config.form)},
            timeline=project.timeline
            | {k: v for k, v in timeline_to_dict(timeline).items() if k in _EDITABLE_TIMELINE},
            score=score_to_dict(score),
            history=history,
            tracks=_tracks(arrangement),
            outputs=_recorded_outputs(project.outputs, job.paths, produced),
        )
        updated.save(outputs.path("project"))
        committed = outputs.commit(on_commit)
    warnings.extend(_removed_note(committed.removed))
    return {
        kind: path
        for kind, path in committed.files.items()
        if not (kind.startswith(STEM) and kind in committed.unchanged)
    }
