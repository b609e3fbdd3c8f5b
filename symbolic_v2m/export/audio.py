"""MIDI -> WAV with FluidSynth (through pyfluidsynth and pretty_midi) and a General MIDI soundfont.

    >>> render_wav(Path("clip.mid"), Path("clip.wav"))   # doctest: +SKIP
    PosixPath('clip.wav')

FluidSynth and the soundfont are optional system parts: without them rendering raises
:class:`~symbolic_v2m.errors.MissingPartError`, and the caller skips the audio with a warning.
Which soundfont is used, and why that order, is in ``soundfonts/README.md``.

The WAV is mono (the tracks are not panned, so little is lost), 16-bit, peaks at about -1 dBFS,
and lasts as long as the MIDI file (its last end-of-track, i.e. the score's last bar line) plus
:data:`RELEASE_TAIL` seconds in which the last notes and the reverb die away.

:func:`render_audio` renders every track on its own, with a fresh synthesizer (one track's
release and reverb cannot leak into the next one's opening, and a track sounds the same whatever
else is in the file), and the mix is their sum. The per-track renders are the **stems**: the
same soundfont, sample rate, length (from 0 s to the mix's end) and gain as the mix, so that
they line up on a DAW's timeline and add up to the mix (to within one least significant bit per
stem, the rounding to 16 bits).

    >>> with render_audio(Path("clip.mid")) as rendering:     # doctest: +SKIP
    ...     write_wav(Path("clip.wav"), rendering)
    ...     write_wav(Path("clip.melody.wav"), rendering, "Melody")

Without stems (``stems=False``: compose's default outputs) the tracks share synthesizers, one
per worker, each track on its own MIDI channel: every synthesizer runs its reverb and chorus
whatever it plays, and sharing them took a fifth of the rendering's CPU time on a 3-minute
piece of five tracks (bench/RESULTS.md; its wall time is set by the busiest track, the
accompaniment, and did not change). The mix sounds the same but is not the same samples: the
global chorus's phase now starts at the shared synthesizer's first note, not each track's, and
the rounding to 16 bits happens once a synthesizer. A shared synthesizer whose output reaches
full scale (FluidSynth clips it) is rendered again a track at a time.

Memory stays flat in the piece's length: each track is synthesised into a temporary file a
block at a time, and the mix and the stems are summed, scaled and written a block at a time
(the gain needs the whole piece's peak first, so the tracks are read twice from disk).
"""

from __future__ import annotations

import importlib.resources
import io
import logging
import os
import tempfile
import threading
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

import mido
import numpy as np

from symbolic_v2m.errors import Cancelled, ConfigError, MissingPartError
from symbolic_v2m.export.files import WRITE_ERRNOS, atomic_output, output_error
from symbolic_v2m.quiet_import import native_stderr, quiet_import

log = logging.getLogger(__name__)

#: Environment variable naming a soundfont to use instead of the system ones.
SOUNDFONT_ENV = "SYMBOLIC_V2M_SOUNDFONT"

#: Where Debian and Ubuntu packages install General MIDI soundfonts, best first: MuseScore
#: General (MIT; the Lite .sf3 is what `make setup` installs), FluidR3 (MIT, large), TimGM6mb
#: (GPL-2, small), then the distribution's default-GM alternatives.
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf3/default-GM.sf3"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)

#: Tracks synthesised at a time: FluidSynth renders without Python's lock, so on two cores two
#: tracks take about the time of one.
RENDER_WORKERS = 2

#: Seconds rendered after the MIDI file's end, for the release of the last notes and the reverb.
RELEASE_TAIL = 1.0

#: Peak level of the written WAV: -1 dBFS leaves headroom for lossy encoders (AAC in the MP4),
#: whose decoded output overshoots the source peaks slightly.
PEAK_DBFS = -1.0

_INSTALL_SOUNDFONT = (
    "install one (Debian/Ubuntu: apt-get install musescore-general-soundfont-small) "
    f"or set {SOUNDFONT_ENV}"
)


def find_soundfont(explicit: Path | None = None) -> Path:
    """The General MIDI soundfont to render with.

    Order: ``explicit``, then ``$SYMBOLIC_V2M_SOUNDFONT``, then :data:`SYSTEM_SOUNDFONTS`, then
    the ``TimGM6mb.sf2`` that ships inside pretty_midi. A soundfont that was asked for (the
    argument or the variable) but is not there is an error, not a reason to pick another one.

    Raises:
        MissingPartError: the requested soundfont does not exist, or none is found.
    """
    if explicit is not None:
        if not Path(explicit).is_file():
            raise MissingPartError(f"soundfont {explicit} not found; {_INSTALL_SOUNDFONT}")
        return Path(explicit)
    from_env = os.environ.get(SOUNDFONT_ENV)
    if from_env:
        if not Path(from_env).is_file():
            raise MissingPartError(
                f"soundfont {from_env} (from {SOUNDFONT_ENV}) not found; {_INSTALL_SOUNDFONT}"
            )
        return Path(from_env)
    for path in SYSTEM_SOUNDFONTS:
        if path.is_file():  # follows the symlinks that Debian's alternatives install
            return path
    bundled = _pretty_midi_soundfont()
    if bundled is not None:
        return bundled
    raise MissingPartError(f"no General MIDI soundfont found; {_INSTALL_SOUNDFONT}")


#: Samples synthesised, mixed and written at a time (about 6 s at 44.1 kHz): memory for the
#: audio stays the same however long the piece is.
BLOCK_SAMPLES = 1 << 18


class Rendering:
    """A MIDI file as 16-bit audio: the mix and one stem per track (by track name), all of one
    ``length`` and scaled by one ``gain`` (so that the stems add up to the mix).

    The audio stays on disk (each track's raw synthesis in a temporary folder) until written:
    :func:`write_wav` makes a WAV of the mix or of a stem a block at a time, so a rendering's
    memory does not grow with the piece's length. :meth:`read` loads one whole (short pieces,
    tests). Use as a context manager, or :meth:`close`, to remove the temporary folder (it is
    also removed when the object is collected).
    """

    def __init__(
        self,
        sample_rate: int,
        length: int,
        gain: float,
        tracks: dict[str, list[tuple[Path, int]]],
        folder: tempfile.TemporaryDirectory,
        stems: bool = True,
    ) -> None:
        self.sample_rate = sample_rate
        self.length = length  # samples
        self.gain = gain
        # stem names, in the order of the MIDI file's tracks; none when rendered without stems
        self.names = tuple(tracks) if stems else ()
        self._tracks = tracks  # stem (or shared synthesizer) -> its (raw int16 file, samples)
        self._folder = folder
        self._stems = stems

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary files."""
        self._folder.cleanup()

    def blocks(self, stem: str | None = None) -> Iterator[np.ndarray]:
        """The mix (or stem ``stem``; silence for a track that has no notes) as 16-bit PCM,
        ``BLOCK_SAMPLES`` at a time, (n,) int16 each.

        Raises:
            ValueError: a stem of a rendering made without stems.
        """
        if stem is not None and not self._stems:
            raise ValueError("this rendering has no stems (render_audio(..., stems=False))")
        names = tuple(self._tracks) if stem is None else (stem,) if stem in self._tracks else ()
        for mix in _mixed_blocks(self._tracks, names, self.length):
            yield _pcm(mix, self.gain)

    def read(self, stem: str | None = None) -> np.ndarray:
        """The whole mix (or stem ``stem``), (S,) int16."""
        return np.concatenate([*self.blocks(stem), np.zeros(0, np.int16)])


def render_audio(
    midi_path: Path,
    soundfont: Path | None = None,
    sample_rate: int = 44100,
    progress: Callable[[float, float], None] | None = None,
    stop: threading.Event | None = None,
    workers: int = RENDER_WORKERS,
    scratch: Path | None = None,
    stems: bool = True,
) -> Rendering:
    """Render ``midi_path``: every track on its own, and the mix as their sum (module doc); with
    ``stems=False``, the mix alone, the tracks sharing ``workers`` synthesizers.

    The gain puts the loudest of the mix and the stems (without stems, the mix) at about -1
    dBFS (a stem can peak above the mix where other tracks cancel it, and must not clip);
    silence stays silence. ``progress(done, total)`` counts seconds of audio synthesised,
    every synthesizer counted, and is called in the caller's thread. Synthesizers run
    ``workers`` at a time (FluidSynth runs without Python's lock); with stems the result does
    not depend on how many. A set ``stop`` ends the rendering with
    :class:`~symbolic_v2m.errors.Cancelled` within a block. The tracks wait on disk, in a
    temporary folder in ``scratch`` (the system's temporary folder if None, which may be
    memory: pass a folder on the disk that takes the outputs).

    Raises:
        MissingPartError: the FluidSynth library or a soundfont is missing.
        OutputError: the scratch folder cannot be written (full disk, no permission).
        Cancelled: ``stop`` was set.
    """
    path = find_soundfont(soundfont)
    # parsed from memory: mido reads a file through many small reads and tell() calls, each a
    # system call that gives up Python's lock and then waits for it; beside the score's export
    # (music21 in the main thread) that held the synthesis back as long as the export ran
    # (bench/RESULTS.md)
    data = Path(midi_path).read_bytes()
    midi = quiet_import("pretty_midi").PrettyMIDI(io.BytesIO(data))
    instruments = midi.instruments
    seconds = midi.get_end_time()
    groups = [[i] for i in range(len(instruments))]
    if not stems:
        groups = _share_synthesizers(instruments, workers)
    try:
        folder = tempfile.TemporaryDirectory(prefix=".v2m-render-", dir=scratch)
    except OSError as exc:
        raise output_error(Path(scratch or tempfile.gettempdir()), exc) from None
    try:
        files = [Path(folder.name) / f"part{k}.s16" for k in range(len(groups))]
        parts = [[instruments[i] for i in group] for group in groups]
        results = _synthesize_parts(
            parts, files, path, sample_rate, seconds, workers, progress, stop
        )
        # a shared synthesizer that reached full scale clipped: its tracks again, each alone
        clipped = [k for k, (_, peak) in enumerate(results) if peak >= _FULL_SCALE]
        clipped = [k for k in clipped if len(groups[k]) > 1]
        if clipped:
            log.debug("shared synthesizers %s clipped: rendering their tracks alone", clipped)
            alone = [[i] for k in clipped for i in groups[k]]
            more = [Path(folder.name) / f"track{i}.s16" for (i,) in alone]
            again = _synthesize_parts(
                [[instruments[i]] for (i,) in alone], more, path, sample_rate, seconds,
                workers, None, stop,
            )  # fmt: skip
            kept = [k for k in range(len(groups)) if k not in clipped]
            groups = [groups[k] for k in kept] + alone
            files = [files[k] for k in kept] + more
            results = [results[k] for k in kept] + again
        lengths = [length for length, _ in results]
        tracks: dict[str, list[tuple[Path, int]]] = {}
        if stems:
            for (i,), file, length in zip(groups, files, lengths, strict=True):
                tracks.setdefault(instruments[i].name, []).append((file, length))  # a stem a name
        else:
            shared = zip(files, lengths, strict=True)
            tracks = {f"synthesizer {k}": [part] for k, part in enumerate(shared)}
        # pretty_midi stops one second after a track's last note; the file may end later (rests
        # in the last bar), and every stem and the mix should cover the whole piece
        length = round((mido.MidiFile(file=io.BytesIO(data)).length + RELEASE_TAIL) * sample_rate)
        length = max([length, *lengths])
        # the peak of the mix and of every stem (a stem can peak above the mix where other
        # tracks cancel it), in one read of the tracks
        peak = 0.0
        for start in range(0, length, BLOCK_SAMPLES):
            mix = np.zeros(min(BLOCK_SAMPLES, length - start))
            for parts_of_stem in tracks.values():
                stem = _stem_block(parts_of_stem, start, len(mix))
                if stems:
                    peak = max(peak, _peak(stem))
                mix += stem
            peak = max(peak, _peak(mix))
        gain = 10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0
        return Rendering(sample_rate, length, gain, tracks, folder, stems)
    except OSError as exc:
        folder.cleanup()
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise output_error(Path(folder.name), exc) from None
    except BaseException:
        folder.cleanup()
        raise


#: Seconds between progress reports (and checks for a stop) while tracks are synthesised.
_REPORT_INTERVAL = 0.1

#: FluidSynth's 16-bit output at full scale: a synthesizer that reached it has clipped.
_FULL_SCALE = 32767

#: MIDI channels a shared synthesizer gives its pitched tracks (9 is General MIDI's drums).
_PITCHED_CHANNELS = tuple(c for c in range(16) if c != 9)


def _share_synthesizers(instruments: list, workers: int) -> list[list[int]]:
    """The tracks (indices into ``instruments``) each shared synthesizer plays: ``workers`` of
    them, balanced by the seconds of notes each must voice (longest first, each to the least
    loaded synthesizer that has a channel for it: one drum track each, 15 pitched ones); more
    synthesizers only where the channels run out."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(instruments))))]
    loads = [0.0] * len(groups)

    def fits(group: list[int], drum: bool) -> bool:
        same = [i for i in group if instruments[i].is_drum == drum]
        return len(same) < (1 if drum else len(_PITCHED_CHANNELS))

    def voiced(i: int) -> float:
        return sum(n.end - n.start for n in instruments[i].notes)

    for i in sorted(range(len(instruments)), key=lambda i: (-voiced(i), i)):
        open_ = [k for k, group in enumerate(groups) if fits(group, instruments[i].is_drum)]
        if not open_:
            groups.append([])
            loads.append(0.0)
            open_ = [len(groups) - 1]
        k = min(open_, key=lambda k: (loads[k], k))
        groups[k].append(i)
        loads[k] += voiced(i)
    return [sorted(group) for group in groups if group]


def _synthesize_parts(
    parts: list[list],
    files: list[Path],
    soundfont: Path,
    sample_rate: int,
    seconds: float,
    workers: int,
    progress: Callable[[float, float], None] | None,
    stop: threading.Event | None,
) -> list[tuple[int, int]]:
    """Synthesise each part (the tracks one synthesizer plays) into its file, ``workers`` at a
    time; returns each part's (length in samples, peak sample)."""
    total = seconds * len(parts)
    if progress is not None:
        progress(0.0, total)
    halt = threading.Event()  # ours: an error or a stop ends the parts under way
    # Every synthesizer is made, and its presets chosen, here before any part renders: that is
    # when FluidSynth loads samples and prints, and catching what it prints redirects the
    # process's descriptor 2, which the rendering threads must not do at the same time.
    synthesizers = []
    try:
        channelled = []
        for part in parts:
            synthesizers.append(_synthesizer(soundfont, sample_rate))
            pitched = iter(_PITCHED_CHANNELS)
            channels = [9 if t.is_drum else next(pitched) for t in part]
            for track, channel in zip(part, channels, strict=True):
                _select_preset(*synthesizers[-1], track, channel)
            channelled.append(list(zip(part, channels, strict=True)))
        done = [0.0] * len(parts)  # seconds synthesised, per part
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="v2m-fluidsynth") as pool:
            jobs = [
                pool.submit(_synthesize, tracks, *synth, files[k], done, k, seconds, halt)
                for k, (tracks, synth) in enumerate(zip(channelled, synthesizers, strict=True))
            ]
            try:
                pending, reported = set(jobs), 0.0
                while pending:
                    finished, pending = wait(pending, _REPORT_INTERVAL, FIRST_COMPLETED)
                    for job in finished:
                        job.result()  # a part's error is the rendering's
                    if stop is not None and stop.is_set():
                        raise Cancelled("rendering stopped")
                    if progress is not None and sum(done) > reported:
                        reported = sum(done)
                        progress(reported, total)
            except BaseException:
                halt.set()  # the parts under way end at their next block
                for job in jobs:  # the parts not started are not started
                    job.cancel()
                raise
        return [job.result() for job in jobs]
    finally:
        for synthesizer, _ in synthesizers:
            synthesizer.delete()


def _synthesize(
    tracks: list[tuple[object, int]],
    synthesizer: object,
    sfid: int,
    out: Path,
    done: list[float],
    slot: int,
    seconds: float,
    halt: threading.Event,
) -> tuple[int, int]:
    """Synthesise ``tracks`` (pretty_midi instruments, each with its channel) into ``out``
    (raw 16-bit mono) a block at a time; returns its length in samples and its peak sample.
    ``done[slot]`` follows the seconds synthesised.

    pretty_midi's ``Instrument.fluidsynth`` does the same for one track but returns it whole as
    one float64 array (21 MB a minute): this is its algorithm (the same events in the same
    order, the same sample positions, the left channel of FluidSynth's 16-bit output, one second
    after the last event) with the samples written to disk as they come, and with several
    tracks' events merged in time order. FluidSynth renders in blocks of its own, so asking for
    a span in several calls gives the same samples.
    """
    rate = float(synthesizer.get_setting("synth.sample-rate"))
    events: list[list] = []
    for instrument, channel in tracks:  # the preset was chosen by _select_preset
        for note in instrument.notes:
            events.append([note.start, "note on", channel, note.pitch, note.velocity])
            events.append([note.end, "note off", channel, note.pitch])
        for bend in instrument.pitch_bends:
            events.append([bend.time, "pitch bend", channel, bend.pitch])
        for change in instrument.control_changes:
            events.append([change.time, "control change", channel, change.number, change.value])
    if not any(instrument.notes for instrument, _ in tracks):
        out.write_bytes(b"")
        done[slot] = seconds
        return 0, 0
    events.sort(key=lambda e: (e[0], e[1] != "note off"))
    current = events[0][0]
    for event, following in zip(events[:-1], events[1:], strict=True):  # times -> gaps
        event[0] = following[0] - event[0]
    events[-1][0] = 1.0
    length = int(np.ceil(rate * (current + np.sum([e[0] for e in events]))))
    peak = 0
    # a block's worth of buffer: a write to the disk gives up Python's lock and waits for it
    # again (see render_audio's parse), and the samples between two events are often a few
    # hundred bytes
    with open(out, "wb", buffering=2 * BLOCK_SAMPLES) as file:
        position = min(length, int(rate * current))  # samples written
        _write_silence(file, position)  # before the first event
        for event in events:
            if event[1] == "note on":
                synthesizer.noteon(*event[2:])
            elif event[1] == "note off":
                synthesizer.noteoff(*event[2:])
            elif event[1] == "pitch bend":
                synthesizer.pitch_bend(*event[2:])
            else:
                synthesizer.cc(*event[2:])
            count = int(rate * (current + event[0])) - int(rate * current)
            while count > 0:
                if halt.is_set():
                    return position, peak
                step = min(count, BLOCK_SAMPLES)
                samples = synthesizer.get_samples(step)[::2]  # (step,) int16, the left channel
                keep = max(0, min(step, length - position))
                file.write(samples[:keep].astype("<i2").tobytes())
                if keep:
                    peak = max(peak, int(samples[:keep].max()), -int(samples[:keep].min()))
                position += keep
                count -= step
            current += event[0]
            done[slot] = min(current, seconds)
        _write_silence(file, length - position)
    done[slot] = seconds
    return length, peak


def _write_silence(file: BinaryIO, samples: int) -> None:
    """Append ``samples`` of 16-bit silence, a block at a time (a track may start late)."""
    for start in range(0, samples, BLOCK_SAMPLES):
        file.write(bytes(2 * min(BLOCK_SAMPLES, samples - start)))


def _mixed_blocks(
    tracks: dict[str, list[tuple[Path, int]]], names: tuple[str, ...], length: int
) -> Iterator[np.ndarray]:
    """The sum of the tracks of stems ``names``, (n,) float64, ``BLOCK_SAMPLES`` at a time,
    silence past a track's end, ``length`` samples in all. The tracks hold integers, so the
    sums are exact whatever their order."""
    for start in range(0, length, BLOCK_SAMPLES):
        mix = np.zeros(min(BLOCK_SAMPLES, length - start))
        for name in names:
            mix += _stem_block(tracks[name], start, len(mix))
        yield mix


def _stem_block(parts: list[tuple[Path, int]], start: int, count: int) -> np.ndarray:
    """Samples ``start`` to ``start + count`` of the sum of one stem's tracks, (count,)
    float64; silence past a track's end."""
    block = np.zeros(count)
    for file, samples in parts:
        if start < samples:
            part = np.fromfile(file, "<i2", min(count, samples - start), offset=2 * start)
            block[: len(part)] += part
    return block


def _pcm(samples: np.ndarray, gain: float) -> np.ndarray:
    """Float samples at ``gain`` as 16-bit PCM."""
    return np.round(samples * gain * 32767).astype(np.int16)


def _peak(samples: np.ndarray) -> float:
    """The largest absolute sample, 0 for none (without an array of absolute values)."""
    if not samples.size:
        return 0.0
    return max(float(samples.max()), -float(samples.min()))


def _select_preset(synthesizer: object, sfid: int, instrument: object, channel: int) -> None:
    """Choose ``instrument``'s preset on ``channel`` as pretty_midi's renderer would (drums
    bank 128, preset 0 if the program is missing; others bank 0), so that FluidSynth loads its
    samples now, with its messages caught (:func:`render_audio`)."""
    with native_stderr(log):
        if instrument.is_drum:
            if synthesizer.program_select(channel, sfid, 128, instrument.program) == -1:
                synthesizer.program_select(channel, sfid, 128, 0)
        else:
            synthesizer.program_select(channel, sfid, 0, instrument.program)


def write_wav(path: Path, rendering: Rendering, stem: str | None = None) -> None:
    """Write the mix (or stem ``stem``) of ``rendering`` as a 16-bit mono WAV at ``path``,
    atomically and a block at a time."""
    with atomic_output(Path(path)) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rendering.sample_rate)
        out.setnframes(rendering.length)  # the header is right from the start: no seek back
        for block in rendering.blocks(stem):
            out.writeframesraw(block.astype("<i2").tobytes())


def render_wav(
    midi_path: Path,
    wav_path: Path,
    soundfont: Path | None = None,
    sample_rate: int = 44100,
) -> Path:
    """Render ``midi_path`` to a 16-bit mono WAV at ``wav_path`` (atomically) and return it.

    The soundfont is resolved by :func:`find_soundfont`. Peaks are normalised to about -1 dBFS
    so that a quiet arrangement is not lost under the video's sound; silence stays silence.

    Raises:
        MissingPartError: the FluidSynth library or a soundfont is missing.
    """
    with render_audio(midi_path, soundfont, sample_rate) as rendering:
        write_wav(Path(wav_path), rendering)
    return Path(wav_path)


def check_soundfont(soundfont: Path) -> None:
    """Fail now, before any work, if FluidSynth cannot load the soundfont a user asked for.

    Raises:
        ConfigError: the file is missing or not a soundfont FluidSynth reads (bad input, exit 2),
            with FluidSynth's own reason.
        MissingPartError: the FluidSynth library itself is missing (the audio is skipped).
    """
    path = Path(soundfont)
    if not path.is_file():
        raise ConfigError(f"--soundfont {path}: no such file")
    try:
        synthesizer, _ = _synthesizer(path, 44100)
    except _UnloadableSoundfont as exc:
        raise ConfigError(f"--soundfont {path}: {exc.reason}") from None
    synthesizer.delete()


class _UnloadableSoundfont(MissingPartError):
    """FluidSynth refused the soundfont file; ``reason`` is its own last error line."""

    def __init__(self, soundfont: Path, reason: str) -> None:
        super().__init__(
            f"soundfont {soundfont} could not be loaded ({reason}); {_INSTALL_SOUNDFONT}"
        )
        self.reason = f"FluidSynth cannot load it ({reason})"


def _synthesizer(soundfont: Path, sample_rate: int) -> tuple[object, int]:
    """A ``fluidsynth.Synth`` with ``soundfont`` loaded, and the soundfont's id in it; what
    FluidSynth prints on the way goes to the log (DEBUG), not the terminal."""
    try:
        fluidsynth = quiet_import("fluidsynth")
    except (ImportError, OSError):  # pyfluidsynth raises ImportError when libfluidsynth is absent
        raise MissingPartError(
            "FluidSynth library not found: install it (Debian/Ubuntu: apt-get install fluidsynth)"
        ) from None
    # Dynamic sample loading decodes only the presets the piece selects: loading all of
    # MuseScore General Lite (.sf3, Ogg-compressed samples) took 5 s of a 6 s render of 20 s of
    # music, with it the whole render takes under 1 s, and the samples come out identical.
    settings = {"synth.dynamic-sample-loading": 1}
    with native_stderr(log) as said:
        synthesizer = fluidsynth.Synth(samplerate=float(sample_rate), **settings)
        sfid = synthesizer.sfload(str(soundfont))
    if sfid == -1:
        synthesizer.delete()
        errors = [line.split("error:", 1)[1].strip() for line in said if "error:" in line]
        # FluidSynth tries each loader in turn; its first complaint is the SoundFont reader's
        raise _UnloadableSoundfont(soundfont, errors[0] if errors else "not a SoundFont file")
    return synthesizer, sfid


def _pretty_midi_soundfont() -> Path | None:
    """pretty_midi's bundled TimGM6mb.sf2, if the installed wheel has it."""
    try:
        path = Path(str(importlib.resources.files(quiet_import("pretty_midi")) / "TimGM6mb.sf2"))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None
