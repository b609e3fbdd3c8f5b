"""POP909 (Wang et al., ISMIR 2020) -> quantised scores.

A song folder ``NNN/`` holds ``NNN.mid`` (tracks ``MELODY``, ``BRIDGE``, ``PIANO``) and the
annotations ``beat_midi.txt``, ``chord_midi.txt`` and ``key_audio.txt``. What we do with them:

- **Grid:** the annotated beats, not the file's nominal tempo (:mod:`symbolic_v2m.data.grid`).
  The tempo map of the score is one anchor per annotated beat, so the quantised score plays back
  in time with the original.
- **Bars:** from the downbeat flags. 880 songs have 4-beat bars, 29 have 6-beat bars with a
  half-bar flag every 3 beats: triple metre. We keep those 29 as 3/4 (each annotated 6-beat bar
  is two 3/4 bars, the half-bar flag being the second downbeat) rather than dropping them, so
  the models learn triple metre. Irregular annotated bars (2, 3, 5, 6 beats in a 4/4 song, about
  5% of bars) become a full bar plus a short one (:func:`~symbolic_v2m.data.grid.bar_lengths`).
- **Roles:** ``MELODY`` -> melody; ``PIANO`` **and** ``BRIDGE`` -> accompaniment. BRIDGE is the
  arrangement's secondary line (fills, counter-melody, doubled hooks); leaving it out would teach
  the accompaniment stage a thinner texture than the songs have, and putting it in the melody
  would make the lead line polyphonic. (``include_bridge=False`` drops it.)
- **Chords:** labels parsed by :mod:`symbolic_v2m.music.chords` (rare qualities to the nearest
  class), onsets and ends rounded to ticks, gaps filled with ``N`` so the chord part tiles the
  piece.
- **Keys:** ``key_audio.txt``; a change lands on the nearest downbeat.
- **Phrases:** from rests in the melody (:mod:`symbolic_v2m.data.phrases`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic_v2m.data.corpus import Song
from symbolic_v2m.data.grid import (
    BeatGrid,
    QuantisationStats,
    bar_lengths,
    meter_of,
    quantise_notes,
)
from symbolic_v2m.data.phrases import melody_phrase_starts
from symbolic_v2m.errors import DataError
from symbolic_v2m.music.chords import parse_chord_label, parse_pitch_class
from symbolic_v2m.music.score import TICKS_PER_BEAT, Chord, KeyChange, Note, Score

ADAPTER_VERSION = 1


def _read_table(path: Path, columns: int, parse) -> list[tuple]:
    """Rows of a whitespace-separated annotation file; DataError names file and line."""
    if not path.is_file():
        raise DataError(f"{path}: missing annotation file")
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != columns:
            raise DataError(f"{path}: line {number}: expected {columns} fields, got {len(fields)}")
        try:
            rows.append(parse(fields))
        except ValueError as exc:
            raise DataError(f"{path}: line {number}: {exc}") from None
    if not rows:
        raise DataError(f"{path}: no annotations")
    return rows


def read_beats(path: Path) -> BeatGrid:
    """``beat_midi.txt`` -> :class:`BeatGrid` (downbeats from the bar flag)."""
    rows = _read_table(path, 3, lambda f: (float(f[0]), float(f[1]), float(f[2])))
    times = np.array([r[0] for r in rows])
    try:
        return BeatGrid(times, np.array([r[2] == 1.0 for r in rows]))
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None


def read_chords(path: Path) -> list[tuple[float, float, int | None, str, int | None]]:
    """``chord_midi.txt`` -> ``(start s, end s, root, quality, bass)`` rows."""

    def parse(fields: list[str]):
        start, end = float(fields[0]), float(fields[1])
        return (start, end, *parse_chord_label(fields[2]))

    return _read_table(path, 3, parse)


def read_keys(path: Path) -> list[tuple[float, int, str]]:
    """``key_audio.txt`` -> ``(start s, tonic, mode)`` rows; labels like ``Gb:maj``."""

    def parse(fields: list[str]):
        tonic, _, mode = fields[2].partition(":")
        if mode not in ("maj", "min"):
            raise ValueError(f"{fields[2]!r} is not a key label like 'Gb:maj'")
        return (float(fields[0]), parse_pitch_class(tonic), "major" if mode == "maj" else "minor")

    return _read_table(path, 3, parse)


def _triple_metre(grid: BeatGrid) -> bool:
    gaps = np.diff(np.flatnonzero(grid.downbeat))
    if len(gaps) == 0:
        return False
    dominant = Counter(gaps.tolist()).most_common(1)[0][0]
    return dominant in (3, 6)


def _tile_chords(
    rows: list[tuple[int, int, int | None, str, int | None]], length: int
) -> tuple[Chord, ...]:
    """Chords in ticks -> a part that covers [0, length) exactly, gaps filled with ``N``."""
    chords: list[Chord] = []
    cursor = 0
    for start, end, root, quality, bass in sorted(rows, key=lambda r: r[0]):
        start, end = max(start, cursor), min(end, length)
        if end <= start:
            continue
        if start > cursor:
            chords.append(Chord(cursor, start - cursor, None, "N", None))
        chords.append(Chord(start, end - start, root, quality, bass))
        cursor = end
    if cursor < length:
        chords.append(Chord(cursor, length - cursor, None, "N", None))
    return tuple(chords)


@dataclass(frozen=True)
class Pop909:
    """The POP909 corpus at ``root`` (the folder holding ``001/`` ... ``909/``)."""

    root: Path
    include_bridge: bool = True
    ticks_per_beat: int = TICKS_PER_BEAT
    name: str = "pop909"

    def song_ids(self) -> list[str]:
        """Three-digit folder names, sorted."""
        return sorted(p.name for p in Path(self.root).iterdir() if p.is_dir() and p.name.isdigit())

    def fingerprint(self) -> str:
        return (
            f"pop909-v{ADAPTER_VERSION}-bridge{int(self.include_bridge)}-tpb{self.ticks_per_beat}"
        )

    def load(self, song_id: str) -> Song:
        """Read, quantise and assemble one song (see the module doc for every choice)."""
        import symusic  # imported here: worker processes pay for it, the CLI start does not

        folder = Path(self.root) / song_id
        midi_path = folder / f"{song_id}.mid"
        grid = read_beats(folder / "beat_midi.txt")
        chord_rows = read_chords(folder / "chord_midi.txt")
        key_rows = read_keys(folder / "key_audio.txt")
        if not midi_path.is_file():
            raise DataError(f"{midi_path}: missing MIDI file")
        try:
            midi = symusic.Score(str(midi_path), ttype="second")
        except Exception as exc:  # symusic raises RuntimeError / ValueError on bad files
            raise DataError(f"{midi_path}: not a readable MIDI file ({exc})") from None
        tracks = {t.name.strip().upper(): t for t in midi.tracks}
        if "MELODY" not in tracks:
            raise DataError(f"{midi_path}: no MELODY track (tracks: {sorted(tracks)})")

        tpb = self.ticks_per_beat
        stats = QuantisationStats()
        parts: dict[str, list[Note]] = {}
        roles = {"melody": ["MELODY"], "accompaniment": ["PIANO"]}
        if self.include_bridge:
            roles["accompaniment"].append("BRIDGE")
        for role, names in roles.items():
            arrays = [tracks[n].notes.numpy() for n in names if n in tracks]
            if not arrays:
                parts[role] = []
                continue
            a = {k: np.concatenate([x[k] for x in arrays]) for k in arrays[0]}
            notes, part_stats = quantise_notes(
                a["time"].astype(np.float64),
                (a["time"] + a["duration"]).astype(np.float64),
                a["pitch"].astype(np.int64),
                a["velocity"].astype(np.int64),
                grid,
                tpb,
            )
            parts[role] = notes
            stats.add(part_stats)

        last_onset = max((n.onset for p in parts.values() for n in p), default=0)
        unit = 3 if _triple_metre(grid) else 4
        total_beats = max(len(grid.times), last_onset // tpb + 1)
        bars = bar_lengths(grid, unit, total_beats)
        if bars[-1] < unit:  # complete the last bar rather than end on a fragment
            bars[-1] = unit
        n_beats = sum(bars)
        grid = grid.extended(n_beats + 1)
        meters = tuple(meter_of(b) for b in bars)
        length = n_beats * tpb
        bar_starts = np.cumsum([0, *bars]) * tpb

        chord_ticks = []
        for start, end, root, quality, bass in chord_rows:
            on, off = np.rint(grid.beat_position(np.array([start, end])) * tpb).astype(int)
            chord_ticks.append((int(on), int(off), root, quality, bass))
        chords = _tile_chords(chord_ticks, length)

        keys: list[KeyChange] = []
        for start, tonic, mode in sorted(key_rows):
            tick = grid.beat_position(np.array([start]))[0] * tpb
            bar_start = int(bar_starts[int(np.argmin(np.abs(bar_starts[:-1] - tick)))])
            onset = 0 if not keys else bar_start
            if keys and (keys[-1].tonic, keys[-1].mode) == (tonic, mode):
                continue
            if keys and onset <= keys[-1].onset:
                keys[-1] = KeyChange(keys[-1].onset, tonic, mode)
                continue
            keys.append(KeyChange(onset, tonic, mode))

        score = Score(
            meters=meters,
            tempo=grid.tempo_map(tpb),
            keys=tuple(keys),
            chords=chords,
            melody=tuple(parts["melody"]),
            accompaniment=tuple(parts["accompaniment"]),
            phrase_starts=melody_phrase_starts(parts["melody"], bar_starts, tpb),
            ticks_per_beat=tpb,
        ).normalised()
        notes = "triple metre (3/4)" if unit == 3 else ""
        return Song(song_id, score, stats, notes)
