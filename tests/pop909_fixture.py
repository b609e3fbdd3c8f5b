"""A tiny POP909-like corpus with known answers, built with pretty_midi (no ../shared needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

BEAT = 60 / 90  # seconds per beat: 90 BPM, while the MIDI file says 120
FIRST_BEAT = 0.5


@dataclass(frozen=True)
class FixtureSong:
    """What a fixture song should quantise to (ticks from the first annotated beat)."""

    song_id: str
    melody_ticks: tuple[int, ...]
    n_bars: int


def _beat_times(n: int) -> np.ndarray:
    return FIRST_BEAT + BEAT * np.arange(n)


def _write_beats(folder: Path, n: int, bar_every: int, first_downbeat: int) -> None:
    half = bar_every // 2
    lines = []
    for i, t in enumerate(_beat_times(n)):
        k = i - first_downbeat
        bar = 1.0 if k >= 0 and k % bar_every == 0 else 0.0
        half_bar = 1.0 if k >= 0 and k % half == 0 else 0.0
        lines.append(f"{t} {half_bar} {bar}")
    (folder / "beat_midi.txt").write_text("\n".join(lines) + "\n")


def _seconds(tick: float) -> float:
    return FIRST_BEAT + tick / 4 * BEAT


def _write_midi(
    folder: Path,
    song_id: str,
    parts: dict[str, list[tuple[float, float, int]]],
    jitter: float = 0.01,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, notes in parts.items():
        inst = pretty_midi.Instrument(program=0, name=name)
        for tick, length, pitch in notes:
            start = _seconds(tick) + rng.uniform(-jitter, jitter)
            inst.notes.append(
                pretty_midi.Note(
                    velocity=90,
                    pitch=pitch,
                    start=max(start, 0.0),
                    end=_seconds(tick + length) - 0.02,
                )
            )
        midi.instruments.append(inst)
    midi.write(str(folder / f"{song_id}.mid"))


def _write_table(path: Path, rows: list[tuple]) -> None:
    path.write_text("\n".join("\t".join(str(x) for x in row) for row in rows) + "\n")


def write_fixture_corpus(root: Path) -> dict[str, FixtureSong]:
    """Five songs: 001 (4/4 with a pickup), 002 (triple metre), 003 (malformed chord file),
    004 (no key file), 005 (triplet melody: off the 16th grid)."""
    songs = {}

    # 001: one pickup beat, then 8 bars of 4/4.
    folder = root / "001"
    folder.mkdir(parents=True)
    _write_beats(folder, 33, 4, first_downbeat=1)
    melody_ticks = (0, 4, 6, 8, 12, 20, 30, 36, 44, 52, 68, 84, 100, 116)
    melody = [(t, 2, 72 + i % 5) for i, t in enumerate(melody_ticks)]
    piano = [(4 + 4 * b, 4, p) for b in range(32) for p in (48, 52, 55)]
    bridge = [(20, 4, 79), (52, 4, 81)]
    _write_midi(folder, "001", {"MELODY": melody, "BRIDGE": bridge, "PIANO": piano})
    _write_table(
        folder / "chord_midi.txt",
        [
            (FIRST_BEAT - 0.1, _seconds(4), "N"),
            (_seconds(4), _seconds(68), "C:maj"),
            (_seconds(68), _seconds(100), "A:min7"),
            (_seconds(100), _seconds(132), "F:maj/3"),
        ],
    )
    _write_table(folder / "key_audio.txt", [(1.0, 30.0, "C:maj")])
    songs["001"] = FixtureSong("001", melody_ticks, 9)

    # 002: triple metre, 4 annotated 6-beat bars -> 8 bars of 3/4.
    folder = root / "002"
    folder.mkdir()
    _write_beats(folder, 24, 6, first_downbeat=0)
    melody_ticks = (0, 12, 24, 36, 48, 60, 72, 84)
    _write_midi(
        folder,
        "002",
        {
            "MELODY": [(t, 8, 67) for t in melody_ticks],
            "PIANO": [(t, 4, 43) for t in range(0, 96, 4)],
        },
    )
    _write_table(folder / "chord_midi.txt", [(FIRST_BEAT, _seconds(96), "G:maj")])
    _write_table(folder / "key_audio.txt", [(FIRST_BEAT, _seconds(96), "G:maj")])
    songs["002"] = FixtureSong("002", melody_ticks, 8)

    # 003: a malformed chord annotation.
    folder = root / "003"
    folder.mkdir()
    _write_beats(folder, 16, 4, first_downbeat=0)
    _write_midi(folder, "003", {"MELODY": [(0, 4, 60)], "PIANO": [(0, 4, 48)]})
    (folder / "chord_midi.txt").write_text("0.5\t2.0\tC:maj\n2.0\tnot-a-time\tG:maj\n")
    _write_table(folder / "key_audio.txt", [(0.5, 10.0, "C:maj")])

    # 004: no key annotation.
    folder = root / "004"
    folder.mkdir()
    _write_beats(folder, 16, 4, first_downbeat=0)
    _write_midi(folder, "004", {"MELODY": [(0, 4, 60)], "PIANO": [(0, 4, 48)]})
    _write_table(folder / "chord_midi.txt", [(0.5, 5.0, "C:maj")])

    # 005: a triplet melody, 2/3 of its onsets a third of a 16th... off the grid.
    folder = root / "005"
    folder.mkdir()
    _write_beats(folder, 16, 4, first_downbeat=0)
    triplets = [(b * 4 + k * 4 / 3, 1, 64 + k) for b in range(16) for k in range(3)]
    _write_midi(folder, "005", {"MELODY": triplets, "PIANO": [(0, 16, 48)]}, jitter=0)
    _write_table(folder / "chord_midi.txt", [(0.5, 5.0, "E:min")])
    _write_table(folder / "key_audio.txt", [(0.5, 10.0, "E:min")])
    return songs
