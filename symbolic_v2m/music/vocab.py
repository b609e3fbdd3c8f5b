"""The one definition of the compound-word (CP) vocabulary of every stage.

A CP token is a vector with one index per *family* (type, position, pitch, ...). Index 0 of
every family means "not used by this token"; real values start at 1. Every size the model uses
(embedding tables, output heads, loss masks) is read from :data:`STAGES`; nothing is typed twice.

Families are of two kinds:

- **predicted** families get an output head. The control families (``density`` per bar,
  ``strength`` per simu-note) are predicted too, so a stage can run without controls, and with
  controls they are *forced*: the sampler writes the video's value instead of sampling.
- **context** families are input only: derived from the token's tick and from what is given
  (meter, key, phrase structure, progress through the piece, the chord sounding, the melody
  sounding). They are how a stage sees the earlier stages: the chord under every token, and for
  the accompaniment the melody under every token. We chose these *aligned embeddings* over
  interleaving the earlier stages' tokens into the sequence: they add nothing to the sequence
  length (the accompaniment is already the longest stream, ~2M tokens for POP909), the model
  never has to learn to skip forced tokens, and a regenerated span sees exactly the context at
  each tick. The cost is that a token sees the given parts only at its own tick; what comes
  later reaches it through ``phrase`` and ``progress``.

Token types and the families each sets (besides the context families, which every token has):

====================  =========================================================
``bos``               nothing: starts every sequence, so the first bar is predicted too
``bar``               ``meter`` (context), ``density`` (control)
``pos`` (simu-note)   ``position`` in the bar, ``strength`` (control)
``note``              ``pitch``, ``duration``, ``velocity``
``chord``             ``position``, ``root``, ``quality``, ``bass``
``eos``               nothing
====================  =========================================================

The melody and accompaniment stages write ``bar``/``pos``/``note``; the chord stage writes
``bar``/``chord`` (one chord token per chord change, the chord lasting until the next).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from symbolic_v2m.music.chords import QUALITIES
from symbolic_v2m.music.score import TICKS_PER_BEAT, Role, TimeSignature

#: Meters a bar can have: what POP909's beat annotations contain (see the data pipeline). Every
#: one fits in 16 ticks, which bounds a bar's positions and density classes
#: (:data:`MAX_BAR_TICKS`). A 6/8 bar has the 12 ticks of a 3/4 bar; POP909 does not tell the two
#: apart, so there is no 6/8 value to learn, and a 6/8 composition is encoded as 3/4 bars.
METERS: tuple[TimeSignature, ...] = (
    TimeSignature(1, 4),
    TimeSignature(2, 4),
    TimeSignature(3, 4),
    TimeSignature(4, 4),
)
MAX_BAR_TICKS = max(m.ticks(TICKS_PER_BEAT) for m in METERS)
#: Simu-notes with more notes than this count as this many (3 in 100,000 POP909 simu-notes).
MAX_STRENGTH = 8
#: Note lengths in ticks: every 16th up to a whole note, then coarser up to four 4/4 bars.
DURATIONS: tuple[int, ...] = (*range(1, 17), 20, 24, 28, 32, 40, 48, 64)
PROGRESS_BUCKETS = 32
#: ``phrase`` is the number of bars after this one before the next phrase / section starts,
#: with everything from this value on meaning "far".
PHRASE_HORIZON = 8
TOKEN_TYPES = ("bos", "bar", "pos", "note", "chord", "eos")
MODES = ("major", "minor")


def _velocities() -> tuple[int, ...]:
    """MIDI velocity bins: miditok's default 16 bins for CP words (7, 15, ..., 127)."""
    from miditok import CPWord, TokenizerConfig

    return tuple(int(v) for v in CPWord(TokenizerConfig(num_velocities=16)).velocities)


@dataclass(frozen=True)
class Family:
    """One family of a CP token: its values, whether a head predicts it, and how it transposes.

    ``transposes`` is ``"pitch"`` (MIDI pitch, shift by the interval), ``"pitch_class"`` (mod
    12), ``"key"`` (values are ``(tonic, mode)``) or ``None`` (unchanged by transposition).
    """

    name: str
    values: tuple[Any, ...]
    predicted: bool
    transposes: str | None = None

    @property
    def size(self) -> int:
        """Number of indices, the reserved 0 ("not used") included."""
        return len(self.values) + 1

    @cached_property
    def _index(self) -> dict[Any, int]:
        return {value: i + 1 for i, value in enumerate(self.values)}

    def index(self, value: Any) -> int:
        """Token index of ``value`` (``None`` -> 0)."""
        if value is None:
            return 0
        try:
            return self._index[value]
        except KeyError:
            raise ValueError(f"{value!r} is not in the {self.name} vocabulary") from None

    def value(self, index: int) -> Any:
        """The value at a token index (0 -> ``None``)."""
        return None if index == 0 else self.values[index - 1]


def _families() -> dict[str, Family]:
    velocities = _velocities()
    families = [
        Family("type", TOKEN_TYPES, predicted=True),
        Family("position", tuple(range(MAX_BAR_TICKS)), predicted=True),
        Family("density", tuple(range(MAX_BAR_TICKS + 1)), predicted=True),
        Family("strength", tuple(range(1, MAX_STRENGTH + 1)), predicted=True),
        Family("pitch", tuple(range(128)), predicted=True, transposes="pitch"),
        Family("duration", DURATIONS, predicted=True),
        Family("velocity", velocities, predicted=True),
        Family("root", tuple(range(12)), predicted=True, transposes="pitch_class"),
        Family("quality", QUALITIES, predicted=True),
        Family("bass", tuple(range(12)), predicted=True, transposes="pitch_class"),
        # context families (input only)
        Family("meter", METERS, predicted=False),
        Family(
            "key",
            tuple((tonic, mode) for mode in MODES for tonic in range(12)),
            predicted=False,
            transposes="key",
        ),
        Family("progress", tuple(range(PROGRESS_BUCKETS)), predicted=False),
        Family("phrase", tuple(range(PHRASE_HORIZON + 1)), predicted=False),
        Family("chord_root", tuple(range(12)), predicted=False, transposes="pitch_class"),
        Family("chord_quality", QUALITIES, predicted=False),
        Family("chord_bass", tuple(range(12)), predicted=False, transposes="pitch_class"),
        Family("melody_pitch", tuple(range(128)), predicted=False, transposes="pitch"),
        Family("melody_onset", (False, True), predicted=False),
    ]
    return {f.name: f for f in families}


@dataclass(frozen=True)
class StageSpec:
    """The vocabulary of one stage: its families in column order and the token types it uses.

    ``type_families`` says which predicted families each token type sets; the loss of a family
    counts only on tokens whose type sets it. ``given`` says which families of the same token a
    family is predicted after, and from (a chained model, ``ModelConfig.chained``): a chord's
    root given its quality, its bass given both, since "vi" is minor and "IV" major, and
    sampling them independently writes the vi's root with the IV's quality.
    """

    role: Role
    families: tuple[Family, ...]
    type_families: dict[str, tuple[str, ...]]
    given: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def column(self) -> dict[str, int]:
        """Family name -> column in a token array."""
        return {f.name: i for i, f in enumerate(self.families)}

    @property
    def token_types(self) -> tuple[str, ...]:
        return tuple(self.type_families)

    @property
    def predicted(self) -> tuple[Family, ...]:
        return tuple(f for f in self.families if f.predicted)

    @property
    def context(self) -> tuple[Family, ...]:
        return tuple(f for f in self.families if not f.predicted)

    def family(self, name: str) -> Family:
        return self.families[self.column[name]]

    def type_index(self, token_type: str) -> int:
        return self.family("type").index(token_type)


_CONTEXT_COMMON = ("key", "progress", "phrase")
_CONTEXT_CHORD = ("chord_root", "chord_quality", "chord_bass")
_CONTEXT_MELODY = ("melody_pitch", "melody_onset")


def build_stage_specs() -> dict[Role, StageSpec]:
    """The three stage vocabularies (built on call: the velocity bins come from miditok)."""
    fam = _families()
    note_types = {
        "bos": (),
        "bar": ("density",),
        "pos": ("position", "strength"),
        "note": ("pitch", "duration", "velocity"),
        "eos": (),
    }
    layouts: dict[Role, tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = {
        Role.CHORD: (
            {
                "bos": (),
                "bar": ("density",),
                "chord": ("position", "root", "quality", "bass"),
                "eos": (),
            },
            ("meter", *_CONTEXT_COMMON),
        ),
        Role.MELODY: (note_types, ("meter", *_CONTEXT_COMMON, *_CONTEXT_CHORD)),
        Role.ACCOMPANIMENT: (
            note_types,
            ("meter", *_CONTEXT_COMMON, *_CONTEXT_CHORD, *_CONTEXT_MELODY),
        ),
    }
    # a chord's families in the order they are sampled, each given the ones before it
    chord_chain = ("quality", "root", "bass")
    given = {Role.CHORD: {f: chord_chain[:i] for i, f in enumerate(chord_chain) if i}}
    specs = {}
    for role, (type_families, context) in layouts.items():
        predicted = ["type"]
        for names in type_families.values():
            predicted += [n for n in names if n not in predicted]
        families = tuple(fam[n] for n in (*predicted, *context))
        specs[role] = StageSpec(role, families, type_families, given.get(role, {}))
    return specs


def stage_spec(role: Role | str) -> StageSpec:
    """The vocabulary of one stage (built once per process, on first use)."""
    return _cached_specs()[Role(role)]


@cache
def _cached_specs() -> dict[Role, StageSpec]:
    return build_stage_specs()
