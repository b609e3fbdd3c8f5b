"""Audio rendering alone: time and peak memory of ``render_audio`` plus writing the mix and
every stem, for a MIDI file (repeated ``--repeat`` times end to end, to test longer pieces).

    python bench/render_speed.py PIECE.mid [--repeat 3] [--no-stems] [--out DIR]

``--no-stems`` renders the mix alone, as compose does without stems (shared synthesizers).
Wall time and the process's CPU time are both printed.

Run it in a fresh process per measurement: the peak is the process's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pretty_midi

from symbolic_v2m.export.audio import render_audio, write_wav


def repeated(midi: Path, times: int, folder: Path) -> Path:
    """``midi``'s tracks played ``times`` times end to end (notes only), as a new file."""
    source = pretty_midi.PrettyMIDI(str(midi))
    end = source.get_end_time()
    out = pretty_midi.PrettyMIDI(initial_tempo=120)
    for instrument in source.instruments:
        copy = pretty_midi.Instrument(instrument.program, instrument.is_drum, instrument.name)
        for k in range(times):
            for n in instrument.notes:
                copy.notes.append(
                    pretty_midi.Note(n.velocity, n.pitch, n.start + k * end, n.end + k * end)
                )
        out.instruments.append(copy)
    path = folder / f"{midi.stem}.x{times}.mid"
    out.write(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("midi", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, help="keep the WAVs here (to compare bytes)")
    parser.add_argument("--no-stems", action="store_true", help="the mix alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        midi = args.midi if args.repeat == 1 else repeated(args.midi, args.repeat, Path(tmp))
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        start, cpu = time.perf_counter(), time.process_time()
        with render_audio(midi, stems=not args.no_stems) as rendering:
            write_wav(out / "mix.wav", rendering)
            for name in rendering.names:
                write_wav(out / f"{name}.wav", rendering, name)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        music = rendering.length / rendering.sample_rate
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{music:.0f} s of music, {len(rendering.names)} stems: {seconds:.2f} s "
          f"({cpu:.2f} s of CPU), peak RSS {peak:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
