"""The form plan: which sections are the same music, and which bars repeat earlier bars.

Real songs are built from repetition, and a film composer brings a theme back when its scene
returns. The plan gives every section a form label (A, B, A, C ...) and turns the labels into
*bar copies*: "bar 17 is bar 1 again, for these stages". The stages honour them as they write
(:func:`symbolic_v2m.stages.write_part`): a copied bar is taken from its source, fitted to its
own controls, and the model writes the rest with the copies in its context.

Where the labels come from, first match wins:

1. the user (``--form "A B A C"``, or ``--form 3:A`` for one section);
2. the returning scenes of the video: sections whose main shots show one scene share a label;
3. otherwise the shape of a pop song: verses and choruses alternating (A B A B), a bridge (C)
   two thirds of the way through a piece of five sections or more, and the last chorus back.

``--form free`` turns repetition off (every section new, no copies), the composer's behaviour
before the form existed.

Inside a section, a first appearance is built the way pop phrases are: phrases of
``PHRASE_BARS`` bars, the second *answering* the first (it begins with the first's two bars,
then goes its own way), a section of three phrases or more *echoing* its first phrase at its
end, and one level down, inside every other phrase of three bars or more, the second half
answering the first (its third bar begins like its first). Without that last rule a piece of
one or two short sections repeated nothing (recurrence 0.19-0.24 against POP909's 0.36 on two
of the clips in ``bench/form.py``).

A later appearance of a label copies the first one, fitted to its own length: bar k of the
repeat is bar k of the first appearance; a longer repeat goes round again from the
start; a shorter one ends on the first appearance's last bar (its cadence).

``variation`` (0..1) says how much of a repeat is written afresh: the chords always return; in
``floor(variation * bars)`` of its bars the melody (and with it the accompaniment) is new: the
bars whose melody density differs most from their source's, then phrase ends. At 0 a repeat
is the same notes (fitted to its controls), at 1 only the chords return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symbolic_v2m.music.score import Role, TimeSignature
from symbolic_v2m.video.features import scene_letter

PHRASE_BARS = 4
#: Bars of a phrase that the answering phrase takes from the one it answers.
ANSWER_BARS = 2
DEFAULT_VARIATION = 0.25
#: the stages a copy can include, in writing order
STAGES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class BarCopy:
    """Bar ``bar`` repeats bar ``source`` (an earlier one) in the stages ``parts``."""

    bar: int
    source: int
    parts: tuple[str, ...]


@dataclass(frozen=True)
class FormConfig:
    """The user's form choices; the defaults plan from the video.

    ``labels``: one label per section (``--form "A B A C"``); ``overrides``: 1-based section ->
    label (``--form 3:A``); ``free``: no repetition at all.
    """

    labels: tuple[str, ...] | None = None
    overrides: dict[int, str] = field(default_factory=dict)
    free: bool = False
    variation: float = DEFAULT_VARIATION


@dataclass(frozen=True)
class Form:
    """A piece's form: a label per section, where the labels came from (``"yours"``,
    ``"scenes"``, ``"pop"`` or ``"free"``), and the bar copies that realise it."""

    labels: tuple[str, ...] = ()
    origin: str = "free"
    copies: tuple[BarCopy, ...] = ()

    def copies_for(self, stage: str) -> dict[int, int]:
        """``{bar: source bar}`` of the copies that include ``stage``."""
        return {c.bar: c.source for c in self.copies if stage in c.parts}

    def repeats_of(self, section: int) -> tuple[int, ...]:
        """The later sections (0-based) with the same label as ``section``."""
        if not 0 <= section < len(self.labels):
            return ()
        label = self.labels[section]
        return tuple(i for i in range(section + 1, len(self.labels)) if self.labels[i] == label)


def parse_form(values: tuple[str, ...]) -> FormConfig:
    """``--form`` values -> FormConfig: ``"free"``, one whole form (``"A B A C"``, letters
    separated by spaces or commas, or written together: ``"ABAC"``), and/or ``N:X`` overrides.
    ValueError names a bad value."""
    labels: tuple[str, ...] | None = None
    overrides: dict[int, str] = {}
    free = False
    for value in values:
        text = value.strip()
        if text.lower() == "free":
            free = True
        elif ":" in text:
            number, _, label = text.partition(":")
            if not number.strip().isdigit() or int(number) < 1 or not _is_label(label.strip()):
                raise ValueError(f"{value!r} is not N:LABEL (a section number and a letter)")
            overrides[int(number)] = label.strip().upper()
        else:
            parts = text.replace(",", " ").split()
            if len(parts) == 1 and parts[0].isalpha():
                parts = list(parts[0])
            if not parts or not all(_is_label(p) for p in parts):
                raise ValueError(f'{value!r} is not a form like "A B A C" (letters)')
            if labels is not None:
                raise ValueError("give the whole form once (use N:X to change one section)")
            labels = tuple(p.upper() for p in parts)
    if free and (labels is not None or overrides):
        raise ValueError("--form free turns repetition off; it takes no labels")
    return FormConfig(labels=labels, overrides=overrides, free=free)


def _is_label(text: str) -> bool:
    return 1 <= len(text) <= 3 and text[0].isalpha() and text.isalnum()


def _relabel(keys: list) -> tuple[str, ...]:
    """Letters in order of first appearance for any hashable section keys."""
    first: dict = {}
    return tuple(scene_letter(first.setdefault(k, len(first))) for k in keys)


def pop_labels(n_sections: int) -> tuple[str, ...]:
    """Verse and chorus alternating, a bridge at two thirds from five sections on, and the
    chorus after it (A B A B C B ...)."""
    labels = ["A" if i % 2 == 0 else "B" for i in range(n_sections)]
    if n_sections >= 5:
        bridge = min(n_sections - 2, round(2 * n_sections / 3))
        labels[bridge] = "C"
        labels[bridge + 1 :] = ["B" if i % 2 == 0 else "A" for i in range(n_sections - bridge - 1)]
    return tuple(labels)


def section_labels(
    config: FormConfig, section_scenes: tuple[int, ...]
) -> tuple[tuple[str, ...], str]:
    """The label of each section and where the labels came from (module doc). ValueError when
    the user's form does not fit the sections."""
    n = len(section_scenes)
    if config.free:
        return tuple(scene_letter(i) for i in range(n)), "free"
    if config.labels is not None and len(config.labels) != n:
        raise ValueError(f"--form has {len(config.labels)} labels but the piece has {n} sections")
    for number in config.overrides:
        if not 1 <= number <= n:
            raise ValueError(f"--form {number}:...: there are {n} sections")
    known = [s for s in section_scenes if s >= 0]
    if config.labels is not None:
        labels, origin = config.labels, "yours"
    elif len(set(known)) < len(known):
        # a blank or unknown scene (-1) is never a return: its own key
        keys = [s if s >= 0 else ("own", i) for i, s in enumerate(section_scenes)]
        labels, origin = _relabel(keys), "scenes"
    else:
        labels, origin = pop_labels(n), "pop"
    if config.overrides:
        labels = tuple(config.overrides.get(i + 1, label) for i, label in enumerate(labels))
        origin = "yours"
    return tuple(labels), origin


def _varied(
    pairs: list[tuple[int, int]],
    meters: tuple[TimeSignature, ...],
    density: tuple[int, ...],
    variation: float,
) -> list[BarCopy]:
    """Copies of each (bar, source); in ``floor(variation * len)`` of them chords only: the
    bars whose melody density differs most from their source's (where the picture changed
    most the tune changes, and the bars kept need the least fitting), then phrase ends."""
    fresh = int(variation * len(pairs) + 1e-9)  # at most that share: a 3-bar repeat stays whole
    order = sorted(
        range(len(pairs)),
        key=lambda k: (
            -abs(density[pairs[k][0]] - density[pairs[k][1]]),
            k % PHRASE_BARS != PHRASE_BARS - 1,
            -k,
        ),
    )
    new = set(order[:fresh])
    return [
        BarCopy(bar, source, ("chord",) if k in new else STAGES)
        for k, (bar, source) in enumerate(pairs)
        if bar != source and meters[bar] == meters[source]
    ]


def repeat_copies(
    source: tuple[int, int],
    target: tuple[int, int],
    meters: tuple[TimeSignature, ...],
    density: tuple[int, ...],
    variation: float,
) -> list[BarCopy]:
    """The copies that make the section of bars ``target`` a repeat of the one of bars
    ``source``, fitted to its length (module doc)."""
    a, b = source
    start, end = target
    length = b - a
    pairs = []
    for k in range(end - start):
        if end - start < length and k == end - start - 1:
            bar = b - 1  # a shorter repeat ends on the first one's cadence
        else:
            bar = a + k % length
        pairs.append((start + k, bar))
    return _varied(pairs, meters, density, variation)


def plan_form(
    spans: tuple[tuple[int, int], ...],
    meters: tuple[TimeSignature, ...],
    section_scenes: tuple[int, ...],
    config: FormConfig = FormConfig(),
    density: tuple[int, ...] | None = None,
) -> Form:
    """The form of a piece whose sections span bars ``spans`` [(start, end), ...] (module doc).
    ``density`` is the melody's density per bar (which bars of a repeat are new).

    ValueError when the user's form does not fit the sections."""
    if not 0.0 <= config.variation <= 1.0:
        raise ValueError(f"--variation {config.variation:g}: choose 0..1")
    labels, origin = section_labels(config, section_scenes)
    if config.free:
        return Form(labels, origin, ())
    density = density or (0,) * len(meters)
    copies: list[BarCopy] = []
    first_of: dict[str, int] = {}
    for index, (start, end) in enumerate(spans):
        label = labels[index]
        if label in first_of:  # a repeat of an earlier section
            copies += repeat_copies(
                spans[first_of[label]], (start, end), meters, density, config.variation
            )
            continue
        first_of[label] = index
        # a first appearance: the second phrase answers the first, the last echoes it, and
        # inside every other phrase the second half answers the first (its bar 3 is bar 1)
        phrases = [(p, min(p + PHRASE_BARS, end)) for p in range(start, end, PHRASE_BARS)]
        echoed = len(phrases) >= 3
        for number, (p, q) in enumerate(phrases):
            if number == 1 and q - p >= ANSWER_BARS:
                answer = [(p + k, start + k) for k in range(ANSWER_BARS)]
                copies += _varied(answer, meters, density, 0.0)
            elif number == len(phrases) - 1 and echoed:
                echo = [(p + k, start + k) for k in range(q - p)]
                copies += _varied(echo, meters, density, config.variation)
            elif q - p >= ANSWER_BARS + 1:
                copies += _varied([(p + ANSWER_BARS, p)], meters, density, 0.0)
    return Form(labels, origin, tuple(sorted(copies, key=lambda c: c.bar)))
