"""What the command line prints: short text reports of analyses, compositions, evaluations
and datasets (the library returns data; turning it into lines is the CLI's job)."""

from __future__ import annotations

from pathlib import Path

from symbolic_v2m.video import VideoFeatures


def analysis_summary(features: VideoFeatures) -> str:
    """A short human-readable report of an analysis."""
    info = features.info
    speed = features.flow_speed
    hard = features.hard_cuts
    fades = [c for c in features.cuts if c.kind == "fade"]
    lines = [
        f"{info.path}",
        f"  duration    {info.duration:.2f} s, {info.frame_count} frames, "
        f"{float(info.fps):.3f} fps{' (variable)' if info.variable_frame_rate else ''}",
        f"  resolution  {info.width}x{info.height}"
        + (f" (rotated {info.rotation} deg)" if info.rotation else "")
        + f", analysed at {info.analysis_width}x{info.analysis_height}",
        f"  cuts        {len(hard)}"
        + (": " + ", ".join(f"{c.time:.2f}s" for c in hard) if hard else ""),
    ]
    if fades:
        lines.append("  fades       " + ", ".join(f"{c.time:.2f}s" for c in fades))
    if features.shots and all(s.scene >= 0 for s in features.shots):
        lines.append(f"  scenes      {scene_words(features)}")
    if speed:
        lines.append(
            f"  motion      mean {sum(speed) / len(speed):.3f} diag/s, "
            f"max {max(speed):.3f} diag/s, "
            f"{len(features.beats)} visual beats"
        )
    tempo = features.visual_tempo
    lines.append(
        f"  visual tempo {tempo:.1f} BPM (confidence {features.tempo_confidence:.2f})"
        if tempo
        else "  visual tempo none found (too short or no motion accents)"
    )
    return "\n".join(lines)


def composition_report(video: Path, result) -> list[str]:  # noqa: ANN001 - ComposeResult
    """The plan of a composition (bars, key, tempo, cuts, mood, time per phase), its warnings
    and the files it wrote, in the words a person would use (``1 section``, ``104 BPM`` for a
    steady tempo, ``no cuts``)."""
    from symbolic_v2m.music.theory import spelled_key_name

    timeline = result.timeline
    key = spelled_key_name(timeline.key.tonic, timeline.key.mode)
    lines = [
        f"{video}: {timeline.duration:.2f} s -> {_count(len(timeline.meters), 'bar')}, {key}, "
        f"{tempo_words(timeline)}, {_count(len(timeline.sections), 'section')}",
        f"  {cut_words(timeline)}; mood {timeline.mood.mode} (valence "
        f"{timeline.mood.valence:.2f}, arousal {timeline.mood.arousal:.2f})",
    ]
    if timeline.form.labels:
        lines.append(f"  {form_words(timeline)}")
    if timeline.hits:
        lines.append(f"  {hit_words(timeline)}")
    lines.append("  time " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    return lines + outcome_lines(result.warnings, result.files.values())


def scene_words(features: VideoFeatures) -> str:
    """The shots as scene letters, and what returns: ``A B A C (A returns)``, ``A B C (none
    returns)``."""
    from symbolic_v2m.video.features import scene_letter

    groups = [s.scene for s in features.shots]
    letters = " ".join(scene_letter(g) for g in groups)
    returning = sorted({g for g in groups if groups.count(g) > 1})
    if not returning:
        return f"{letters} (no scene returns)"
    names = ", ".join(scene_letter(g) for g in returning)
    return f"{letters} ({names} {'returns' if len(returning) == 1 else 'return'})"


FORM_ORIGINS = {
    "scenes": "from the returning scenes",
    "pop": "verse and chorus, as no scene returns",
    "yours": "yours",
    "free": "free: nothing repeats",
}


def form_words(timeline) -> str:  # noqa: ANN001 - Timeline
    """``form A B A B (from the returning scenes), 10 bars repeat earlier ones``."""
    form = timeline.form
    repeated = len({c.bar for c in form.copies if "melody" in c.parts})
    text = f"form {' '.join(form.labels)} ({FORM_ORIGINS.get(form.origin, form.origin)})"
    if form.copies:
        text += f", the melody of {_count(repeated, 'bar')} repeats earlier music"
    return text


def hit_words(timeline) -> str:  # noqa: ANN001 - Timeline
    """``hit points 0:06.00, 0:12.50 (yours), 0:14.00``: every hit point, in time order."""

    def clock(seconds: float) -> str:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}:{rest:05.2f}"

    marks = [clock(h.time) + (" (yours)" if h.source == "user" else "") for h in timeline.hits]
    return f"{_count(len(marks), 'hit point')}: " + ", ".join(marks)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def tempo_words(timeline) -> str:  # noqa: ANN001 - Timeline
    """``104 BPM`` when the tempo map holds one tempo (as rounded for reading), else the range
    ``96-112 BPM``."""
    tempi = [round(q) for _, q in timeline.tempo.tempo_changes()]
    low, high = min(tempi), max(tempi)
    return f"{low} BPM" if low == high else f"{low}-{high} BPM"


def cut_words(timeline) -> str:  # noqa: ANN001 - Timeline
    """The cuts and how many of them the tempo map put on a downbeat: ``no cuts``, ``1 cut, on
    a downbeat``, ``4 cuts, all on downbeats``, ``4 cuts, 3 on downbeats``."""
    cuts = len(timeline.cuts)
    on = sum(c.on_downbeat for c in timeline.cuts)
    if cuts == 0:
        return "no cuts"
    if cuts == 1:
        return "1 cut, " + ("on a downbeat" if on else "not on a downbeat")
    if on == cuts:
        return f"{cuts} cuts, all on downbeats"
    return f"{cuts} cuts, {'none' if on == 0 else on} on downbeats"


def outcome_lines(warnings, files) -> list[str]:  # noqa: ANN001 - iterables of str, Path
    """A job's warnings (indented) and the files it wrote."""
    return [f"  warning: {w}" for w in warnings] + [f"wrote {path}" for path in files]


def format_evaluation(report) -> str:  # noqa: ANN001 - Evaluation, imported lazily
    """The evaluation as aligned text tables."""
    lines = [f"music ({report.midi})"]
    if report.reference:
        lines[0] += f"  vs {report.reference_name} ({report.reference_size} pieces)"
        lines.append(f"  {'metric':<28}{'ours':>10}{'reference':>11}{'gap':>10}")
        for name, value in report.music.items():
            ref = report.reference.get(name, float("nan"))
            lines.append(f"  {name:<28}{value:>10.3f}{ref:>11.3f}{value - ref:>+10.3f}")
    else:
        lines += [f"  {name:<28}{value:>10.3f}" for name, value in report.music.items()]
    for title, group in (("video fit", report.video_fit), ("control adherence", report.adherence)):
        if group:
            lines.append(title)
            lines += [f"  {name:<28}{value:>10.3f}" for name, value in group.items()]
    return "\n".join(lines)


def format_dataset_stats(stats) -> str:  # noqa: ANN001 - DatasetStats, imported lazily
    """The statistics as a table: one row per split and stage."""
    lines = [
        f"corpus {stats.corpus}, representation {stats.representation}, "
        f"{stats.excluded} excluded, {stats.skipped} skipped",
        f"{'split':6s} {'stage':14s} {'songs':>5s} {'bars':>7s} {'tokens':>10s} "
        f"{'events':>9s} {'ev/bar':>6s} {'dens4/4':>7s} {'strength':>8s}",
    ]
    for split, stages in stats.by_split.items():
        for role, s in stages.items():
            hist = s["density"].get("4/4", [])
            mean_density = (
                sum(i * n for i, n in enumerate(hist)) / sum(hist) if hist and sum(hist) else 0.0
            )
            strength = f"{s['strength_mean']:.2f}" if "strength_mean" in s else "-"
            lines.append(
                f"{split:6s} {role:14s} {s['songs']:5d} {s['bars']:7d} {s['tokens']:10,d} "
                f"{s['events']:9,d} {s['notes_per_bar_mean']:6.2f} {mean_density:7.2f} "
                f"{strength:>8s}"
            )
    return "\n".join(lines)
