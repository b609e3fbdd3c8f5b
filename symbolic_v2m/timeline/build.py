"""VideoFeatures -> Timeline: bars on the cuts, controls, sections, key and mood."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from symbolic_v2m.errors import ConfigError
from symbolic_v2m.music.score import TICKS_PER_BEAT, KeyChange, TempoMap, TimeSignature
from symbolic_v2m.music.vocab import MAX_STRENGTH
from symbolic_v2m.timeline.controls import (
    ControlConfig,
    bar_speeds,
    density_classes,
    motion_quantiles,
    strength_classes,
)
from symbolic_v2m.timeline.form import Form, FormConfig, plan_form
from symbolic_v2m.timeline.hits import HIT_THRESHOLD, HitPoint, hit_points
from symbolic_v2m.timeline.mood import Mood, estimate_mood
from symbolic_v2m.timeline.tempo import CutPlacement, plan_tempo
from symbolic_v2m.video.features import VideoFeatures

#: Sections shorter than this many bars join the section before them.
MIN_SECTION_BARS = 2
#: Default keys when the user names none: the mood's mode on C / A.
DEFAULT_TONIC = {"major": 0, "minor": 9}


#: how much a fade counts, next to a hard cut, when bar lines are placed
FADE_WEIGHT = 0.5


@dataclass(frozen=True)
class TimelineConfig:
    """Choices for the timeline; ``None`` means "from the video"."""

    tempo: float | None = None
    max_tempo_deviation: float = 0.10
    meter: TimeSignature = TimeSignature(4, 4)
    key: KeyChange | None = None
    mode: str | None = None
    min_cut_strength: float = 0.0
    controls: ControlConfig = field(default_factory=ControlConfig)
    #: extra energy (-1..1) for some sections (1-based), on top of ``controls.energy``
    section_energy: dict[int, float] = field(default_factory=dict)
    #: visual beats at least this strong become hit points (above 1: none do)
    hit_threshold: float = HIT_THRESHOLD
    #: the user's hit points, seconds into the video
    hits: tuple[float, ...] = ()
    #: the user's form choices (--form, --variation); the default plans from the video
    form: FormConfig = field(default_factory=FormConfig)


@dataclass(frozen=True)
class Section:
    """A run of bars that belongs to one shot (or a few short shots).

    ``scene`` is the scene group of the shot that fills most of it (-1: unknown or blank);
    ``label`` its form label (:mod:`.form`)."""

    index: int
    start_bar: int
    end_bar: int
    start: float
    end: float
    scene: int = -1
    label: str = ""


@dataclass(frozen=True)
class Timeline:
    """The music's frame, fitted to the video; what the stages are asked to fill.

    ``density`` holds, per stage role, the density class of every bar; ``strength`` the forced
    strength at a tick (accompaniment), and ``onsets`` the ticks that must carry an onset (the
    strong visual beats). ``hits`` are the hit points (:mod:`.hits`): the accompaniment's
    fullest strength there, and an onset the melody must have too (``melody_onsets``).
    """

    duration: float
    tempo: TempoMap
    meters: tuple[TimeSignature, ...]
    base_qpm: float
    key: KeyChange
    mood: Mood
    cuts: tuple[CutPlacement, ...]
    sections: tuple[Section, ...]
    bar_speed: tuple[float, ...]
    density: dict[str, tuple[int, ...]]
    strength: tuple[tuple[int, int], ...]
    onsets: tuple[int, ...]
    hits: tuple[HitPoint, ...] = ()
    form: Form = field(default_factory=Form)

    @property
    def melody_onsets(self) -> tuple[int, ...]:
        """Ticks where the melody must strike: the hit points."""
        return tuple(h.tick for h in self.hits)

    @property
    def bar_starts(self) -> np.ndarray:
        """(n_bars + 1,) first tick of each bar, and the end."""
        return np.cumsum([0] + [m.ticks(TICKS_PER_BEAT) for m in self.meters])

    @property
    def length(self) -> int:
        return int(self.bar_starts[-1])

    @property
    def phrase_starts(self) -> tuple[int, ...]:
        """Bars (after bar 0) where a section starts: the chord stage's phrase boundaries."""
        return tuple(s.start_bar for s in self.sections[1:])

    def strength_array(self) -> np.ndarray:
        """(length,) forced strength per tick, -1 where free."""
        out = np.full(self.length, -1, dtype=np.int64)
        for tick, value in self.strength:
            out[tick] = value
        return out


def _sections(
    cuts: tuple[CutPlacement, ...],
    n_bars: int,
    tempo: TempoMap,
    bar_starts: np.ndarray,
    duration: float,
) -> tuple[Section, ...]:
    starts = [0]
    for cut in cuts:
        if cut.on_downbeat and cut.bar - starts[-1] >= MIN_SECTION_BARS and cut.bar < n_bars:
            starts.append(cut.bar)
    if len(starts) > 1 and n_bars - starts[-1] < MIN_SECTION_BARS:
        starts.pop()
    bounds = [*starts, n_bars]
    return tuple(
        Section(
            i,
            a,
            b,
            tempo.seconds(int(bar_starts[a])),
            min(duration, tempo.seconds(int(bar_starts[b]))),
        )
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    )


def _section_scenes(sections: tuple[Section, ...], features: VideoFeatures) -> tuple[int, ...]:
    """The scene of the shot that overlaps each section most (-1 when unknown)."""
    scenes = []
    for section in sections:
        overlap = {}
        for shot in features.shots:
            seconds = min(section.end, shot.end) - max(section.start, shot.start)
            if seconds > 0:
                overlap[shot.scene] = overlap.get(shot.scene, 0.0) + seconds
        scenes.append(max(overlap, key=overlap.get) if overlap else -1)
    return tuple(scenes)


def build_timeline(
    features: VideoFeatures, calibration: dict, config: TimelineConfig = TimelineConfig()
) -> Timeline:
    """Fit bars, controls, sections, key and mood to ``features``.

    ``calibration`` is the training data's control tables
    (:func:`symbolic_v2m.data.load_calibration`).
    """
    mood = estimate_mood(features, config.controls)
    duration = features.info.duration
    kept = [c for c in features.cuts if c.strength >= config.min_cut_strength]
    strongest = max((c.strength for c in kept), default=1.0) or 1.0
    # planning weight: half for any transition, half more by relative strength; a fade counts
    # half as much as a hard cut, so of two transitions closer than a bar the cut gets the
    # downbeat (a cut is instantaneous; a fade's moment is blurred over its length)
    cuts = [
        (c.time, (0.5 + 0.5 * c.strength / strongest) * (1.0 if c.kind == "cut" else FADE_WEIGHT))
        for c in kept
    ]
    plan = plan_tempo(
        duration,
        cuts,
        config.tempo or mood.preferred_qpm,
        config.meter,
        config.max_tempo_deviation,
        search=config.tempo is None,
    )
    meters = plan.meters
    bar_starts = np.cumsum([0] + [m.ticks(TICKS_PER_BEAT) for m in meters])
    length = int(bar_starts[-1])
    speeds = bar_speeds(features.times, features.flow_speed, plan.tempo, bar_starts)
    q = motion_quantiles(speeds, config.controls)
    sections = _sections(plan.cuts, len(meters), plan.tempo, bar_starts, duration)
    for number, energy in config.section_energy.items():
        if not 1 <= number <= len(sections):
            raise ConfigError(f"--energy {number}:{energy:g}: there are {len(sections)} sections")
        section = sections[number - 1]
        span = slice(section.start_bar, section.end_bar)
        q[span] = np.clip(
            q[span] + 0.25 * energy,
            config.controls.quantile_floor,
            1 - config.controls.quantile_floor,
        )
    stages = calibration["stages"]
    density = {
        role: tuple(int(d) for d in density_classes(q, meters, stages[role]["density"]))
        for role in ("melody", "accompaniment")
    }
    # chord changes per bar follow the same quantiles (faster picture, more harmonic motion)
    density["chord"] = tuple(
        max(1, int(d)) if i == 0 else int(d)
        for i, d in enumerate(density_classes(q, meters, stages["chord"]["density"]))
    )

    strong = [b for b in features.beats if b.weight >= config.controls.strong_beat]
    ticks = [int(round(plan.tempo.tick(b.time))) for b in strong]
    keep = [(t, b.weight) for t, b in zip(ticks, strong, strict=True) if 0 <= t < length]
    classes = strength_classes(np.array([w for _, w in keep]), stages["accompaniment"]["strength"])
    by_tick: dict[int, int] = {}
    for (tick, _), value in zip(keep, classes, strict=True):
        by_tick[tick] = max(by_tick.get(tick, 0), int(value))
    hits = hit_points(features.beats, config.hits, plan.tempo, length, config.hit_threshold)
    for hit in hits:  # the accompaniment's fullest chord on every hit point
        by_tick[hit.tick] = MAX_STRENGTH
    onsets = tuple(sorted(by_tick))
    # a bar must have room for its required onsets (the melody's: the hit points)
    for role, required_ticks in (("accompaniment", onsets), ("melody", [h.tick for h in hits])):
        required = np.histogram(required_ticks, bins=bar_starts)[0]
        density[role] = tuple(
            int(min(max(d, r), m.ticks(TICKS_PER_BEAT)))
            for d, r, m in zip(density[role], required, meters, strict=True)
        )

    scenes = _section_scenes(sections, features)
    try:
        form = plan_form(
            tuple((s.start_bar, s.end_bar) for s in sections),
            meters,
            scenes,
            config.form,
            density["melody"],
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sections = tuple(
        replace(s, scene=scene, label=label)
        for s, scene, label in zip(sections, scenes, form.labels, strict=True)
    )

    if config.key is not None:
        key = config.key
    else:
        mode = config.mode or mood.mode
        key = KeyChange(0, DEFAULT_TONIC[mode], mode)
    return Timeline(
        duration=duration,
        tempo=plan.tempo,
        meters=meters,
        base_qpm=plan.base_qpm,
        key=key,
        mood=mood,
        cuts=plan.cuts,
        sections=sections,
        bar_speed=tuple(float(s) for s in speeds),
        density=density,
        strength=tuple(sorted(by_tick.items())),
        onsets=onsets,
        hits=hits,
        form=form,
    )
