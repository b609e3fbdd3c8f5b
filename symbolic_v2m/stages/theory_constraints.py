"""Music-theory constraints for the stages: a given chord progression, scale lock.

- :func:`progression_events` turns ``--progression`` values into forced chord-stage events:
  Roman numerals relative to the key (``"i VI III VII"``, with the sevenths and inversions
  music21 understands) or chord symbols (``"Am F C G"``), one chord per bar, repeated to fill;
  a value prefixed ``"N:"`` applies to section N only (``"2: ii V I"``), an unprefixed one to
  every other section.
- :func:`scale_lock_bias` is the melody's pitch bias: ``strict`` masks pitches outside the key's
  scale unless they belong to the chord sounding at that tick (chord tones are always allowed);
  ``soft`` lowers their logits by :data:`SOFT_PENALTY`; ``off`` does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from symbolic_v2m.music.chords import chord_pitch_classes
from symbolic_v2m.music.score import Chord, KeyChange
from symbolic_v2m.music.theory import Key, parse_progression, scale_pitch_classes
from symbolic_v2m.timeline import Timeline

SCALE_LOCKS = ("strict", "soft", "off")
SOFT_PENALTY = 2.5
_SECTION = re.compile(r"^\s*(\d+)\s*:\s*(.*)$")


def progression_events(
    values: Sequence[str], key: KeyChange, timeline: Timeline
) -> dict[int, list[dict]]:
    """Forced chord events per bar (see the module doc). ``ValueError`` names the bad part."""
    k = Key(key.tonic, key.mode)
    default: list[tuple[int, str, int]] | None = None
    by_section: dict[int, list[tuple[int, str, int]]] = {}
    for value in values:
        match = _SECTION.match(value)
        text = match.group(2) if match else value
        try:
            chords = parse_progression(text, k)
        except ValueError as exc:
            raise ValueError(f"--progression {value!r}: {exc}") from None
        if match:
            section = int(match.group(1))
            if not 1 <= section <= len(timeline.sections):
                raise ValueError(
                    f"--progression {value!r}: there are {len(timeline.sections)} sections"
                )
            by_section[section - 1] = chords
        else:
            default = chords
    events: dict[int, list[dict]] = {}
    for section in timeline.sections:
        chords = by_section.get(section.index, default)
        if not chords:
            continue
        for i, bar in enumerate(range(section.start_bar, section.end_bar)):
            root, quality, bass = chords[i % len(chords)]
            events[bar] = [{"position": 0, "root": root, "quality": quality, "bass": bass}]
    return events


def scale_lock_bias(
    mode: str, key: KeyChange, chords: Sequence[Chord], length: int
) -> np.ndarray | None:
    """(length, 128) additive pitch bias for the melody, or ``None`` for ``off``."""
    if mode not in SCALE_LOCKS:
        raise ValueError(f"scale lock must be one of {', '.join(SCALE_LOCKS)}")
    if mode == "off":
        return None
    scale = set(scale_pitch_classes(Key(key.tonic, key.mode)))
    penalty = -np.inf if mode == "strict" else -SOFT_PENALTY
    pcs = np.arange(128) % 12
    outside = np.array([pc not in scale for pc in range(12)])
    bias = np.zeros((length, 128), dtype=np.float32)
    bias[:, outside[pcs]] = penalty
    for chord in chords:
        tones = chord_pitch_classes(chord.root, chord.quality, chord.bass)
        if not tones:
            continue
        allowed = np.isin(pcs, sorted(tones))
        span = slice(max(chord.onset, 0), min(chord.offset, length))
        bias[span, allowed] = 0.0
    return bias


#: Logit bonus for chord tones on the strong beats of a bar (the first and, in 4/4, the third):
#: exp(2.0) ~ 7x the odds, which makes a chord tone the likely choice there without forcing one.
CHORD_TONE_BONUS = 2.0


def chord_tone_bias(
    chords: Sequence[Chord], bar_starts: np.ndarray, length: int, bonus: float = CHORD_TONE_BONUS
) -> np.ndarray:
    """(length, 128) bias favouring the sounding chord's tones on each bar's strong beats.

    Melody notes on strong beats are chord tones in most tonal music (the basis of chord-scale
    and species-counterpoint teaching); the models learn this only slowly, so the melody stage
    gets this nudge by default.
    """
    bias = np.zeros((length, 128), dtype=np.float32)
    pcs = np.arange(128) % 12
    strong = []
    for start, end in zip(bar_starts[:-1], bar_starts[1:], strict=True):
        strong.append(int(start))
        if end - start == 16:
            strong.append(int(start) + 8)
    strong_ticks = np.array(sorted(t for t in strong if t < length), dtype=np.int64)
    for chord in chords:
        tones = chord_pitch_classes(chord.root, chord.quality, chord.bass)
        if not tones:
            continue
        a, b = np.searchsorted(strong_ticks, [chord.onset, min(chord.offset, length)])
        if a < b:
            allowed = np.isin(pcs, sorted(tones))
            bias[np.ix_(strong_ticks[a:b], np.flatnonzero(allowed))] += bonus
    return bias
