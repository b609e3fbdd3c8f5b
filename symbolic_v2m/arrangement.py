"""What export writes: a score's parts as General MIDI tracks, plus markers.

An :class:`Arrangement` is the hand-off between arrangement (roles -> instruments, derived bass,
pad and percussion parts) and export (MIDI, MusicXML, audio, video). Times stay in ticks of the
score's grid; the score's tempo map places them in seconds.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from symbolic_v2m.music.chords import QUALITY_INTERVALS
from symbolic_v2m.music.score import Note, Score
from symbolic_v2m.music.theory import Key, scale_pitch_classes

#: General MIDI channel 10 (0-based 9) is the percussion channel.
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Track:
    """One MIDI track: a name, a General MIDI program (0-127), a channel, and its notes.

    ``role`` says where the notes came from: a stage's role (``"melody"``), or a derived part
    (``"bass"``, ``"pad"``, ``"percussion"``). Drum tracks use :data:`DRUM_CHANNEL` and their
    notes' pitches are GM percussion keys.
    """

    name: str
    role: str
    program: int
    channel: int
    notes: tuple[Note, ...]

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL


@dataclass(frozen=True)
class Marker:
    """A named point in time (a cut, a section start) at a tick."""

    tick: int
    text: str


@dataclass(frozen=True)
class Arrangement:
    """A score laid out as tracks, with markers; ``title`` names the piece (the video's name)."""

    score: Score
    tracks: tuple[Track, ...]
    markers: tuple[Marker, ...] = ()
    title: str = "symbolic-v2m"


# -- arranging: roles -> instruments, derived parts ---------------------------------------------


@dataclass(frozen=True)
class Style:
    """A preset: GM programs for the stage roles and which derived parts to add."""

    name: str
    programs: dict[str, int]  # role -> GM program (0-based)
    bass: bool = False
    pad: bool = False
    percussion: str | None = None  # None, "soft" (hits on accents) or "groove" (a beat)


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style("piano", {"melody": 0, "accompaniment": 0}),
        Style(
            "cinematic",
            {"melody": 48, "accompaniment": 0, "bass": 43, "pad": 89},
            bass=True,
            pad=True,
            percussion="soft",
        ),
        Style(
            "pop",
            {"melody": 73, "accompaniment": 4, "bass": 33},
            bass=True,
            percussion="groove",
        ),
        Style("ambient", {"melody": 11, "accompaniment": 89, "pad": 92}, pad=True),
    )
}

TRACK_NAMES = {
    "melody": "Melody",
    "accompaniment": "Accompaniment",
    "bass": "Bass",
    "pad": "Pad",
    "percussion": "Percussion",
}
CHANNELS = {"melody": 0, "accompaniment": 1, "bass": 2, "pad": 3, "percussion": DRUM_CHANNEL}
# GM percussion keys
KICK, SNARE, CLOSED_HAT, CRASH = 36, 38, 42, 49

#: The velocity every pitched note struck on a hit point reaches at least. A floor rather than a
#: factor: an arrangement made again from an edited file that already carries the accent (a DAW
#: round trip) gives the same velocity, not a louder one each time.
HIT_VELOCITY = 118
#: Marker texts of hit points start with this (the timeline picture finds them by it).
HIT_MARKER = "Hit"
#: A section's marker reads ``LETTER — Section N`` (the form letter first: MuseScore shows it
#: as a rehearsal letter; the picture finds the letters by it).
SECTION_MARKER = "Section"


def _scaled(notes: tuple[Note, ...] | list[Note], scale: float) -> tuple[Note, ...]:
    return tuple(
        Note(n.onset, n.duration, n.pitch, max(1, min(127, round(n.velocity * scale))))
        for n in notes
    )


#: Parts the arrangement derives by rule (the others are the stages' own notes).
DERIVED = frozenset({"bass", "pad"})


def accent_hits(
    notes: tuple[Note, ...], hit_ticks: tuple[int, ...], restrike: bool = False
) -> tuple[Note, ...]:
    """Notes struck on a hit point at :data:`HIT_VELOCITY` at least; with ``restrike`` (a
    derived part: bass, pad) a note held through a hit point is struck again there, so that
    it sounds the accent too. The stages' own parts keep their notes as written: the melody and
    the accompaniment were asked for an onset on every hit point already."""
    if not hit_ticks:
        return notes
    hits = sorted(set(hit_ticks))
    out: list[Note] = []
    for note in notes:
        inside = [h for h in hits if note.onset < h < note.offset] if restrike else []
        starts = [note.onset, *inside]
        ends = [*inside, note.offset]
        for start, end in zip(starts, ends, strict=True):
            velocity = note.velocity
            if start in hit_ticks:
                velocity = max(velocity, HIT_VELOCITY)
            out.append(Note(start, end - start, note.pitch, velocity))
    return tuple(sorted(out, key=lambda n: (n.onset, n.pitch)))


def derive_bass(score: Score) -> tuple[Note, ...]:
    """Bass line from the chords' bass notes, struck where the accompaniment strikes on a beat
    (its rhythm), or once per chord when it does not; E1..D#3 register."""
    tpb = score.ticks_per_beat
    onsets = sorted({n.onset for n in score.accompaniment if n.onset % tpb == 0})
    notes: list[Note] = []
    for chord in score.chords:
        if chord.quality == "N" or chord.bass is None:
            continue
        pitch = 28 + (chord.bass - 4) % 12  # E1 (28) .. D#2 (39)
        if pitch < 31:
            pitch += 12
        hits = [t for t in onsets if chord.onset <= t < chord.offset] or [chord.onset]
        if hits[0] != chord.onset:
            hits.insert(0, chord.onset)
        for i, tick in enumerate(hits):
            end = hits[i + 1] if i + 1 < len(hits) else chord.offset
            notes.append(Note(tick, max(1, min(end - tick, 16)), pitch, 88))
    return tuple(notes)


def derive_pad(score: Score) -> tuple[Note, ...]:
    """Sustained close voicings of the chords around middle C (G3..F#4), soft.

    A chord tone outside the key's scale (major, or natural minor) is held only if the melody
    or the accompaniment sound that pitch class during the chord. The written parts decide what
    a borrowed chord is: where they play the key's C over an "A major" chord in A minor, a pad
    holding C# would clash with them (a minor ninth, a false relation), and as the one sustained
    chromatic voice it would colour the whole bar by itself; where they play it (a borrowed
    chord they realise, the raised seventh of V in minor), the pad holds it too. Without a key
    (a score with none) every chord tone is held.
    """
    notes: list[Note] = []
    written = sorted(score.melody + score.accompaniment, key=lambda n: n.onset)
    onsets = [n.onset for n in written]
    longest = max((n.duration for n in written), default=0)
    for chord in score.chords:
        if chord.quality == "N":
            continue
        key = score.key_at(chord.onset)
        in_key = scale_pitch_classes(Key(key.tonic, key.mode)) if key else range(12)
        # the notes that start before the chord ends and may still sound at its start
        first = bisect.bisect_left(onsets, chord.onset - longest)
        stop = bisect.bisect_left(onsets, chord.offset)
        sounded = {n.pitch % 12 for n in written[first:stop] if n.offset > chord.onset}
        for interval in QUALITY_INTERVALS[chord.quality][:4]:
            pc = (chord.root + interval) % 12
            if pc not in in_key and pc not in sounded:
                continue
            pitch = 55 + (pc - 7) % 12  # G3 .. F#4
            notes.append(Note(chord.onset, min(chord.duration, 64), pitch, 56))
    return tuple(sorted(set(notes), key=lambda n: (n.onset, n.pitch)))


def derive_percussion(
    score: Score,
    accents: tuple[tuple[int, int], ...],
    section_ticks: tuple[int, ...],
    kind: str,
    hit_ticks: tuple[int, ...] = (),
) -> tuple[Note, ...]:
    """Drum hits on channel 10: ``"soft"`` = a kick on every strong visual accent and a crash at
    section starts; ``"groove"`` adds kick on downbeats, snare on the backbeat, closed hi-hat
    8ths. Every hit point gets an accent stroke: crash and kick, and the snare too in a groove.
    """
    tpb = score.ticks_per_beat
    hits: dict[tuple[int, int], int] = {}
    for tick, strength in accents:
        hits[(tick, KICK)] = max(hits.get((tick, KICK), 0), 60 + 8 * min(strength, 6))
    for tick in section_ticks:
        hits[(tick, CRASH)] = 80
    for tick in hit_ticks:
        hits[(tick, CRASH)] = 112
        hits[(tick, KICK)] = 120
        if kind == "groove":
            hits[(tick, SNARE)] = 112
    if kind == "groove":
        for bar in score.bars():
            beats = bar.length // tpb
            for beat in range(beats):
                tick = bar.start + beat * tpb
                if beat == 0 or (beats == 4 and beat == 2):
                    hits[(tick, KICK)] = max(hits.get((tick, KICK), 0), 96)
                if beats >= 2 and beat % 2 == 1:
                    hits[(tick, SNARE)] = 90
                for half in (0, tpb // 2):
                    hits.setdefault((tick + half, CLOSED_HAT), 64 if half else 76)
    return tuple(Note(tick, 1, key, velocity) for (tick, key), velocity in sorted(hits.items()))


def track_roles(
    style: str = "cinematic", programs: dict[str, int] | None = None
) -> tuple[str, ...]:
    """The roles of the tracks :func:`arrange` lays out for ``style`` (and ``programs``, which
    can add a bass or pad the style has not), in track order; known before any music is
    written, so that the per-track outputs (stems) can be checked before work.

    Raises:
        ValueError: an unknown style.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r} (choose from {', '.join(STYLES)})")
    preset = STYLES[style]
    roles = ["melody", "accompaniment"]
    if preset.bass or "bass" in (programs or {}):
        roles.append("bass")
    if preset.pad or "pad" in (programs or {}):
        roles.append("pad")
    if preset.percussion:
        roles.append("percussion")
    return tuple(roles)


def arrange(
    score: Score,
    style: str = "cinematic",
    programs: dict[str, int] | None = None,
    accents: tuple[tuple[int, int], ...] = (),
    markers: tuple[Marker, ...] = (),
    section_ticks: tuple[int, ...] = (),
    velocity_scale: float = 1.0,
    title: str = "symbolic-v2m",
    hit_ticks: tuple[int, ...] = (),
) -> Arrangement:
    """Lay ``score`` out as GM tracks in ``style``; ``programs`` overrides a role's program.

    The melody and accompaniment are the stages' parts; bass, pad and percussion are derived
    from them by rule (only what the style asks for). ``accents`` are ``(tick, strength)`` of
    the strong visual beats; ``section_ticks`` the ticks where sections start. On each of the
    ``hit_ticks`` (hit points) every pitched part that sounds is accented (:func:`accent_hits`)
    and the percussion plays an accent stroke; between them nothing changes.
    """
    roles = track_roles(style, programs)
    preset = STYLES[style]
    chosen = preset.programs | (programs or {})
    chosen.setdefault("bass", 33)
    chosen.setdefault("pad", 89)
    derive = {
        "melody": lambda: score.melody,
        "accompaniment": lambda: score.accompaniment,
        "bass": lambda: derive_bass(score),
        "pad": lambda: derive_pad(score),
        "percussion": lambda: derive_percussion(
            score, accents, section_ticks, preset.percussion, hit_ticks
        ),
    }
    parts = {role: derive[role]() for role in roles}
    tracks = tuple(
        Track(
            TRACK_NAMES[role],
            role,
            0 if role == "percussion" else chosen[role],
            CHANNELS[role],
            notes
            if role == "percussion"
            else accent_hits(_scaled(notes, velocity_scale), hit_ticks, restrike=role in DERIVED),
        )
        for role, notes in parts.items()
    )
    return Arrangement(score, tracks, markers, title)
