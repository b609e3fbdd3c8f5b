"""Music-theory constraints for the stages: a given chord progression, scale lock.

- :func:`progression_events` turns ``--progression`` values into forced chord-stage events:
  Roman numerals relative to the key (``"i VI III VII"``, with the sevenths and inversions
  music21 understands) or chord symbols (``"Am F C G"``), one chord per bar, repeated to fill;
  a value prefixed ``"N:"`` applies to section N only (``"2: ii V I"``), an unprefixed one to
  every other section.
- :func:`scale_lock_bias` is the note stages' pitch bias. ``strict`` masks every pitch outside
  the key's strict set (:func:`~symbolic_v2m.music.theory.strict_pitch_classes`: the major
  scale, or natural minor plus the raised 7th), and :class:`StrictChords` holds the chord stage
  to chords whose tones all lie in that set, so that nothing (melody, accompaniment, or the
  bass and pad derived from the chords) leaves it; a ``--progression`` chord outside the set is
  refused by :func:`check_strict_progression`. ``soft`` lowers the logits of pitches outside
  the key's scale by a penalty (:data:`SOFT_PENALTY` unless told otherwise), except the
  sounding chord's tones, and leaves the chords free; ``off`` does nothing.

    >>> hook = StrictChords((KeyChange(0, 4, "minor"),), np.array([0, 16]))  # doctest: +SKIP
    >>> Constraints(meters, hooks=(hook,))                                   # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from symbolic_v2m.model.sampling import RowState
from symbolic_v2m.music.chords import NO_CHORD, QUALITY_INTERVALS, chord_pitch_classes
from symbolic_v2m.music.score import Chord, KeyChange, Role
from symbolic_v2m.music.theory import (
    Key,
    parse_progression,
    pitch_class_name,
    scale_pitch_classes,
    strict_pitch_classes,
)
from symbolic_v2m.music.vocab import stage_spec
from symbolic_v2m.timeline import Timeline

SCALE_LOCKS = ("strict", "soft", "off")
#: ``soft``'s logit penalty outside the key's scale (e ** 1.0: 2.7 times less likely). Chosen on
#: POP909's validation split with the chained chord model (bench/RESULTS.md, ninth session):
#: 1.0 holds the whole-file bound on video as 2.5 did, where 2.5 made the parts more tonal than
#: real songs (pitch-class entropy -0.032 against -0.025, scale consistency +0.011 / +0.010).
SOFT_PENALTY = 1.0
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


def key_at(keys: Sequence[KeyChange], tick: int) -> KeyChange:
    """The key sounding at ``tick``: the last change at or before it (the first key covers the
    opening, wherever it was written)."""
    ordered = sorted(keys, key=lambda k: k.onset)
    current = ordered[0]
    for change in ordered[1:]:
        if change.onset <= tick:
            current = change
    return current


def strict_set(key: KeyChange) -> frozenset[int]:
    """The strict set of a score key (:func:`~symbolic_v2m.music.theory.strict_pitch_classes`)."""
    return strict_pitch_classes(Key(key.tonic, key.mode))


def scale_lock_bias(
    mode: str,
    keys: KeyChange | Sequence[KeyChange],
    chords: Sequence[Chord],
    length: int,
    soft_penalty: float = SOFT_PENALTY,
) -> np.ndarray | None:
    """(length, 128) additive pitch bias for a note stage, or ``None`` for ``off``.

    ``keys`` is one key or the key changes of the piece (each tick is judged in its own key).
    ``strict``: ``-inf`` outside the key's strict set, chord tones included (under strict the
    chords lie in the set anyway, and a kept chord from outside it must not let the melody out).
    ``soft``: ``-soft_penalty`` outside the key's scale, except the sounding chord's tones.
    """
    if mode not in SCALE_LOCKS:
        raise ValueError(f"scale lock must be one of {', '.join(SCALE_LOCKS)}")
    if mode == "off":
        return None
    keys = (keys,) if isinstance(keys, KeyChange) else tuple(keys)
    pcs = np.arange(128) % 12
    bias = np.zeros((length, 128), dtype=np.float32)
    ordered = sorted(keys, key=lambda k: k.onset)
    for i, key in enumerate(ordered):
        start = 0 if i == 0 else max(key.onset, 0)
        stop = ordered[i + 1].onset if i + 1 < len(ordered) else length
        if mode == "strict":
            allowed = strict_set(key)
        else:
            allowed = set(scale_pitch_classes(Key(key.tonic, key.mode)))
        outside = np.array([pc not in allowed for pc in range(12)])
        bias[start:stop, outside[pcs]] = -np.inf if mode == "strict" else -soft_penalty
    if mode == "soft":
        for chord in chords:
            tones = chord_pitch_classes(chord.root, chord.quality, chord.bass)
            if not tones:
                continue
            allowed = np.isin(pcs, sorted(tones))
            span = slice(max(chord.onset, 0), min(chord.offset, length))
            bias[span, allowed] = 0.0
    return bias


def _fits(root: int, quality: str, allowed: frozenset[int]) -> bool:
    return all((root + i) % 12 in allowed for i in QUALITY_INTERVALS[quality])


class StrictChords:
    """A :data:`~symbolic_v2m.model.LogitHook` for the chord stage under ``--scale-lock
    strict``: every chord it lets through has all its tones, bass included, in the strict set
    of the key at its bar.

    The sampler picks a chord's quality, then its root, then its bass (``RowState.token`` holds
    what is already chosen), so the mask goes in that order: qualities with no root that fits
    (``aug`` in a major key, ``dim7`` there too), then the roots that fit the chosen quality,
    then basses in the set. A no-chord (``N``) has no tones and is always allowed.
    """

    def __init__(self, keys: Sequence[KeyChange], bar_starts: np.ndarray) -> None:
        spec = stage_spec(Role.CHORD)
        self._quality = spec.family("quality")
        self._root = spec.family("root")
        self._bass = spec.family("bass")
        #: the strict set of each bar (key changes land on bar lines)
        self.bar_sets = [strict_set(key_at(keys, int(t))) for t in bar_starts[:-1]]
        self._masks: dict[frozenset[int], dict[str, object]] = {}

    def _masks_for(self, allowed: frozenset[int]) -> dict[str, object]:
        """Indices to mask in each family for one strict set (computed once per key)."""
        if allowed not in self._masks:
            roots = {q: [r for r in range(12) if _fits(r, q, allowed)] for q in QUALITY_INTERVALS}
            self._masks[allowed] = {
                "quality": [self._quality.index(q) for q, fit in roots.items() if not fit],
                "root": {
                    q: [self._root.index(r) for r in range(12) if r not in fit]
                    for q, fit in roots.items()
                },
                "bass": [self._bass.index(pc) for pc in range(12) if pc not in allowed],
            }
        return self._masks[allowed]

    def __call__(
        self, family: str, states: Sequence[RowState], logits: torch.Tensor
    ) -> torch.Tensor:
        """Mask (B, V) ``logits`` of ``family`` (only quality, root and bass are touched)."""
        if family not in ("quality", "root", "bass"):
            return logits
        logits = logits.clone()
        for b, state in enumerate(states):
            if state.done or not 0 <= state.bar < len(self.bar_sets):
                continue
            masks = self._masks_for(self.bar_sets[state.bar])
            quality = state.token.get("quality")
            if family == "quality":
                bad = masks["quality"]
            elif quality is None or quality == NO_CHORD:
                continue  # this row writes no chord now: root and bass are not used
            else:
                bad = masks["root"][quality] if family == "root" else masks["bass"]
            row = logits[b].clone()
            row[bad] = -torch.inf
            # a row with nothing left could only come from a forced chord outside the set,
            # which check_strict_progression refuses before generation; never sample from none
            if torch.isfinite(row).any():
                logits[b] = row
        return logits


def check_strict_progression(values: Sequence[str], key: KeyChange) -> None:
    """Refuse a ``--progression`` chord that has a tone outside ``key``'s strict set.

    Raises:
        ValueError: naming the chord as typed, its tones outside the set, and both options.
    """
    k = Key(key.tonic, key.mode)
    allowed = strict_pitch_classes(k)
    for value in values:
        match = _SECTION.match(value)
        for token in (match.group(2) if match else value).split():
            root, quality, bass = parse_progression(token, k)[0]
            outside = sorted(chord_pitch_classes(root, quality, bass) - allowed)
            if outside:
                names = " and ".join(pitch_class_name(pc, k) for pc in outside)
                raise ValueError(
                    f"--progression {value!r}: the chord {token} has {names}, which "
                    f"--scale-lock strict does not allow in {k.name}; use --scale-lock soft to "
                    "keep it, or leave it out of the progression"
                )


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
