"""How the command line reads option values, and the option groups commands share.

The callbacks turn what a user typed into the values the library takes, or a
``click.BadParameter`` naming the option (exit status 2); nothing here does any work. The groups
(:func:`theory_options`, :func:`run_options`) are the options ``compose`` and ``regenerate``
both have, defined once:

    @app.command()
    @theory_options(span=False)
    @run_options
    def compose(..., key, progression, scale_lock, device, threads, quiet): ...
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

import click

from symbolic_v2m.timeline.form import DEFAULT_VARIATION

F = TypeVar("F", bound=Callable)

#: What each ``--scale-lock`` allows (docs/USER_GUIDE.md says the same at more length).
SCALE_LOCK_HELP = (
    "strict: every note of every part in the key's scale (a minor key: natural minor and the "
    "raised 7th), the chords included; soft: notes outside the scale discouraged, except the "
    "sounding chord's; off: free"
)


def option_group(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several ``click.option`` decorators as one, listed in ``--help`` in the order given."""

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def theory_options(span: bool) -> Callable[[F], F]:
    """``--key``, ``--progression``, ``--scale-lock``: the music-theory controls of ``compose``
    and, over the span (``span=True``), of ``regenerate``, where the lock defaults to the
    composition's own."""
    if span:
        key_help = "Key for the span, e.g. 'D minor'."
        progression_help = "Chords for the span's bars (as for compose)."
        lock_help = f"For the span (default: the composition's lock). {SCALE_LOCK_HELP}."
    else:
        key_help = "Key, e.g. 'D minor', Dm, F#, 'Bb major' (default: from the mood)."
        progression_help = (
            "Chords, one per bar, repeated: Roman numerals ('i VI III VII') or symbols "
            "('Am F C G'); 'N: ...' for section N only (repeatable)."
        )
        lock_help = f"{SCALE_LOCK_HELP}."
    return option_group(
        click.option("--key", callback=parse_key_option, help=key_help),
        click.option(
            "--progression",
            "progression",
            multiple=True,
            callback=parse_progressions,
            help=progression_help,
        ),
        click.option(
            "--scale-lock",
            type=click.Choice(["strict", "soft", "off"]),
            default=None if span else "soft",
            show_default=not span,
            help=lock_help,
        ),
    )


#: ``--device``, ``--threads``, ``--quiet``: where and how loudly a job runs.
run_options = option_group(
    click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when present)."),
    click.option(
        "--threads",
        type=click.IntRange(min=1),
        help="CPU threads for the models (default: torch's choice); the music does not change.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors."),
)


def parse_hits(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``--hit`` times: their form is checked here; a timecode's frames are read at the video's
    rate, and the time checked against its length, once the video is known."""
    from symbolic_v2m.timeline.hits import parse_hit_time

    for value in values:
        try:
            parse_hit_time(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return tuple(values)


def hit_option(span: bool) -> Callable[[F], F]:
    """``--hit``: the user's hit points (``compose``; ``regenerate`` adds to the project's)."""
    added = " They join the composition's hit points." if span else ""
    return click.option(
        "--hit",
        "hits",
        multiple=True,
        callback=parse_hits,
        help="A hit point: a moment the music accents (all parts, a drum stroke, a melody "
        "note), as seconds (12.5), minutes:seconds (0:12.5) or timecode HH:MM:SS:FF at the "
        f"video's rate (repeatable).{added}",
    )


def seed_option(default: int) -> Callable[[F], F]:
    """``--seed`` (the same inputs and seed give the same music)."""
    return click.option("--seed", type=click.IntRange(min=0), default=default, show_default=True)


def parse_frame_rate(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> Fraction | None:
    """``--fps``: a frame rate as a fraction (``25``, ``29.97``, ``30000/1001``), 1-240."""
    if value is None:
        return None
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(
            f"{value!r} is not a frame rate (e.g. 25, 29.97, 30000/1001)"
        ) from None
    if not 1 <= rate <= 240:
        raise click.BadParameter(f"must be 1-240 frames per second (received {value})")
    return rate


def parse_instruments(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``role=program`` pairs; program as a GM number (0-127) or a GM name fragment."""
    from symbolic_v2m.quiet_import import quiet_import

    pretty_midi = quiet_import("pretty_midi")

    out: dict[str, int] = {}
    roles = ("melody", "accompaniment", "bass", "pad")
    for value in values:
        role, _, name = value.partition("=")
        if role not in roles or not name:
            raise click.BadParameter(
                f"{value!r}: use ROLE=INSTRUMENT with ROLE one of {', '.join(roles)}"
            )
        if name.isdigit() and 0 <= int(name) <= 127:
            out[role] = int(name)
            continue
        matches = [
            i
            for i, n in enumerate(pretty_midi.constants.INSTRUMENT_MAP)
            if name.lower().replace("_", " ") in n.lower()
        ]
        if not matches:
            raise click.BadParameter(f"{name!r} is not a General MIDI instrument name")
        out[role] = matches[0]
    return out


def parse_key_option(ctx: click.Context, param: click.Parameter, value: str | None):
    """Check the key parses (music21); the text itself is passed on."""
    if value is not None:
        from symbolic_v2m.music.theory import parse_key

        try:
            parse_key(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def parse_progressions(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """Check that every chord of every progression parses (in any key: validity of a numeral
    does not depend on the key); section numbers are checked once the video is analysed."""
    import re

    from symbolic_v2m.music.theory import Key, parse_progression

    for value in values:
        text = re.sub(r"^\s*\d+\s*:", "", value)
        try:
            parse_progression(text, Key(0, "major"))
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}") from None
    return tuple(values)


def parse_form_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """Check the ``--form`` values (``"A B A C"``, ``3:A``, ``free``); whether the labels fit
    the sections is checked once the video is analysed."""
    from symbolic_v2m.timeline.form import parse_form

    try:
        parse_form(tuple(values))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return tuple(values)


def form_options(span: bool) -> Callable:
    """``--form`` (and ``--variation`` for compose; ``--only-this`` for regenerate)."""

    def decorate(command: Callable) -> Callable:
        form_help = (
            'The form as section letters, e.g. "A B A C" (one per section), N:X for one section '
            "(repeatable), or free (nothing repeats). Default: returning scenes share music, "
            "else verse/chorus."
        )
        if span:
            command = click.option(
                "--only-this",
                is_flag=True,
                help="With --section: leave the section's later repeats as they are.",
            )(command)
            form_help = (
                "A new form for the piece (as for compose); the sections it changes are rewritten."
            )
        else:
            command = click.option(
                "--variation",
                type=click.FloatRange(0, 1),
                default=DEFAULT_VARIATION,
                show_default=True,
                help="How much of a returning section is new: 0 the same notes, 1 only the chords.",
            )(command)
        return click.option(
            "--form", "form", multiple=True, callback=parse_form_option, help=form_help
        )(command)

    return decorate


def parse_energy(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``0.4`` (the whole piece) and ``N:-0.5`` (section N) -> (global, {section: energy})."""
    overall = 0.0
    sections: dict[int, float] = {}
    for value in values:
        section, sep, number = value.rpartition(":")
        try:
            energy = float(number)
            index = int(section) if sep else None
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an energy like 0.5 or 2:-0.3") from None
        if not -1 <= energy <= 1 or (index is not None and index < 1):
            raise click.BadParameter(f"{value!r}: energy is -1..1 and sections count from 1")
        if index is None:
            overall = energy
        else:
            sections[index] = energy
    return overall, sections


def parse_ranges(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``melody=C4-C6`` or ``accompaniment=36-72`` -> {role: (low, high)}."""
    from symbolic_v2m.quiet_import import quiet_import

    pretty_midi = quiet_import("pretty_midi")

    def pitch(text: str) -> int:
        return int(text) if text.isdigit() else pretty_midi.note_name_to_number(text)

    out = {}
    for value in values:
        role, _, span = value.partition("=")
        low, _, high = span.partition("-")
        try:
            lo, hi = pitch(low), pitch(high)
        except (ValueError, KeyError):
            raise click.BadParameter(
                f"{value!r} is not ROLE=LOW-HIGH (e.g. melody=C4-C6)"
            ) from None
        if role not in ("melody", "accompaniment") or not 0 <= lo < hi <= 127:
            raise click.BadParameter(f"{value!r}: ROLE is melody or accompaniment, LOW < HIGH")
        out[role] = (lo, hi)
    return out


def parse_outputs(ctx: click.Context, param: click.Parameter, value: str | None):
    """Comma-separated output kinds; ``all`` is every one, the stems included."""
    from symbolic_v2m.compose import DEFAULT_OUTPUTS, OUTPUTS

    if value is None:
        return DEFAULT_OUTPUTS
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    if chosen == ("all",):
        return OUTPUTS
    bad = [v for v in chosen if v not in OUTPUTS]
    if bad or not chosen:
        raise click.BadParameter(f"choose from {', '.join(OUTPUTS)} (comma-separated), or all")
    return chosen


def parse_bar_range(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--bars 9-16`` (or ``9``) -> (9, 16), counted from 1."""
    if value is None:
        return None
    first, _, last = value.partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a bar range like 9-16") from None
    if not 1 <= a <= b:
        raise click.BadParameter(f"{value!r}: bars count from 1 and the range must not be empty")
    return a, b


def _clock(text: str) -> float:
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def parse_time_range(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--time 0:12-0:24`` -> (12.0, 24.0) seconds."""
    if value is None:
        return None
    start, sep, end = value.partition("-")
    try:
        a, b = _clock(start), _clock(end)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time range like 0:12-0:24") from None
    if not sep or not 0 <= a < b:
        raise click.BadParameter(f"{value!r}: the end must come after the start")
    return a, b
