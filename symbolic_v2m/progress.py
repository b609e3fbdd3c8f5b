"""How a long run reports how far it has got: the phases and the callback they report through.

The library calls ``progress(phase, done, total)`` as work gets done, and never draws anything:
the command line turns the calls into a progress display (on an interactive terminal only),
another caller may log them or ignore them. Each phase has its own unit, so that a display can
say "12/40 bars" or "31/180 s".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: ``progress(phase, done, total)``: ``phase`` one of :data:`PHASES`, ``done`` and ``total`` in
#: the phase's unit. Called again with the same phase as it advances; a new phase starts at 0.
Progress = Callable[[str, float, float], None]


@dataclass(frozen=True)
class Phase:
    """A phase of a run: its name as shown, and what ``done`` and ``total`` count."""

    name: str
    unit: str


#: Every phase, in the order a composition goes through them (a regeneration skips analysing).
PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase("analysing", "s"),  # seconds of video
        Phase("chords", "bars"),  # bars written of the piece's (or the span's) bars
        Phase("melody", "bars"),
        Phase("accompaniment", "bars"),
        Phase("export", "files"),  # MIDI, MusicXML, picture, stems
        Phase("render", "s"),  # seconds of audio synthesised, every synthesizer counted
    )
}

#: The generation phase of each stage (the stages are named by their role).
STAGE_PHASES = {"chord": "chords", "melody": "melody", "accompaniment": "accompaniment"}


def for_phase(progress: Progress | None, phase: str) -> Callable[[float, float], None] | None:
    """``progress`` bound to one phase (what a function that knows only its own work takes);
    ``None`` stays ``None``."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    if progress is None:
        return None
    return lambda done, total: progress(phase, done, total)
