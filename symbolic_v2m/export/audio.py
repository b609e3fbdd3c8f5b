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

    >>> rendering = render_audio(Path("clip.mid"))     # doctest: +SKIP
    >>> write_wav(Path("clip.melody.wav"), rendering.sample_rate, rendering.stem("Melody"))
"""

from __future__ import annotations

import importlib.resources
import io
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from scipy.io import wavfile

from symbolic_v2m.errors import Cancelled, ConfigError, MissingPartError
from symbolic_v2m.export.files import atomic_output
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


@dataclass(frozen=True)
class Rendering:
    """A MIDI file as 16-bit audio: the mix and one stem per track (by track name), all of one
    length and scaled by one ``gain`` (so the stems add up to the mix)."""

    sample_rate: int
    mix: np.ndarray  # (S,) int16
    stems: dict[str, np.ndarray]  # track name -> (S,) int16
    gain: float

    def stem(self, name: str) -> np.ndarray:
        """The stem of track ``name``; silence for a track that has no notes."""
        return self.stems.get(name, np.zeros_like(self.mix))


def render_audio(
    midi_path: Path,
    soundfont: Path | None = None,
    sample_rate: int = 44100,
    progress: Callable[[float, float], None] | None = None,
    stop: threading.Event | None = None,
    workers: int = RENDER_WORKERS,
) -> Rendering:
    """Render ``midi_path``: every track on its own, and the mix as their sum (module doc).

    The gain puts the loudest of the mix and the stems at about -1 dBFS (a stem can peak above
    the mix where other tracks cancel it, and must not clip); silence stays silence.
    ``progress(done, total)`` counts seconds of audio synthesised, every track counted (one
    report a track: FluidSynth renders a track in one call), and is called in the caller's
    thread. Tracks are synthesised ``workers`` at a time (FluidSynth runs without Python's
    lock); the result does not depend on how many. A set ``stop`` ends the rendering with
    :class:`~symbolic_v2m.errors.Cancelled` once the tracks under way are done.

    Raises:
        MissingPartError: the FluidSynth library or a soundfont is missing.
        Cancelled: ``stop`` was set.
    """
    path = find_soundfont(soundfont)
    midi = quiet_import("pretty_midi").PrettyMIDI(str(midi_path))
    seconds = midi.get_end_time()
    total = seconds * len(midi.instruments)
    if progress is not None:
        progress(0.0, total)
    # Every synthesizer is made, and its preset chosen, here before any track renders: that is
    # when FluidSynth loads samples and prints, and catching what it prints redirects the
    # process's descriptor 2, which the rendering threads must not do at the same time.
    synthesizers = []
    try:
        for instrument in midi.instruments:
            synthesizers.append(_synthesizer(path, sample_rate))
            _select_preset(*synthesizers[-1], instrument)
        renders: list[np.ndarray | None] = [None] * len(midi.instruments)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="v2m-fluidsynth") as pool:
            jobs = {
                pool.submit(instrument.fluidsynth, synthesizer=synthesizer, sfid=sfid): index
                for index, (instrument, (synthesizer, sfid)) in enumerate(
                    zip(midi.instruments, synthesizers, strict=True)
                )
            }
            try:
                for done, job in enumerate(as_completed(jobs), 1):
                    renders[jobs[job]] = job.result()
                    if progress is not None:
                        progress(seconds * done, total)
                    if stop is not None and stop.is_set():
                        raise Cancelled("rendering stopped")
            except BaseException:
                for job in jobs:  # the tracks not started are not started
                    job.cancel()
                raise
    finally:
        for synthesizer, _ in synthesizers:
            synthesizer.delete()
    # From here every step works in place or drops what it no longer needs: a track is about
    # 21 MB of float64 a minute, and copies of every track at once were most of a long
    # rendering's memory.
    raw: dict[str, np.ndarray] = {}
    for index, instrument in enumerate(midi.instruments):
        samples, renders[index] = renders[index], None
        name = instrument.name
        if name in raw:  # two tracks of one name (not ours): one stem
            longer = max(len(raw[name]), len(samples))
            raw[name] = np.pad(raw[name], (0, longer - len(raw[name])))
            raw[name][: len(samples)] += samples
        else:
            raw[name] = samples
    # pretty_midi stops one second after a track's last note; the file may end later (rests in
    # the last bar), and every stem and the mix should cover the whole piece
    length = round((mido.MidiFile(str(midi_path)).length + RELEASE_TAIL) * sample_rate)
    length = max([length, *(len(w) for w in raw.values())])
    stems: dict[str, np.ndarray] = {}
    for name in list(raw):
        samples = np.nan_to_num(raw.pop(name), copy=False)
        stems[name] = (
            samples if len(samples) == length else np.pad(samples, (0, length - len(samples)))
        )
    # the tracks added one after another, in order: the same sums as summing them stacked
    mix = np.zeros(length)
    for samples in stems.values():
        mix += samples
    peak = max([_peak(w) for w in (mix, *stems.values())])
    gain = 10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0

    def pcm(samples: np.ndarray) -> np.ndarray:
        return np.round(samples * gain * 32767).astype(np.int16)

    mix_pcm = pcm(mix)
    del mix
    stem_pcm = {name: pcm(stems.pop(name)) for name in list(stems)}
    return Rendering(sample_rate, mix_pcm, stem_pcm, gain)


def _peak(samples: np.ndarray) -> float:
    """The largest absolute sample, 0 for none (without an array of absolute values)."""
    if not samples.size:
        return 0.0
    return max(float(samples.max()), -float(samples.min()))


def _select_preset(synthesizer: object, sfid: int, instrument: object) -> None:
    """Choose ``instrument``'s preset as pretty_midi's renderer will (drums on channel 9, bank
    128, preset 0 if the program is missing; others channel 0, bank 0), so that FluidSynth
    loads its samples now, with its messages caught (:func:`render_audio`)."""
    with native_stderr(log):
        if instrument.is_drum:
            if synthesizer.program_select(9, sfid, 128, instrument.program) == -1:
                synthesizer.program_select(9, sfid, 128, 0)
        else:
            synthesizer.program_select(0, sfid, 0, instrument.program)


def wav_bytes(sample_rate: int, samples: np.ndarray) -> bytes:
    """A 16-bit mono WAV file's bytes."""
    buffer = io.BytesIO()
    wavfile.write(buffer, sample_rate, samples)
    return buffer.getvalue()


def write_wav(path: Path, sample_rate: int, samples: np.ndarray) -> None:
    """Write ``samples`` as a WAV at ``path`` (atomically)."""
    data = wav_bytes(sample_rate, samples)
    with atomic_output(Path(path)) as tmp:
        tmp.write_bytes(data)


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
    rendering = render_audio(midi_path, soundfont, sample_rate)
    write_wav(Path(wav_path), sample_rate, rendering.mix)
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
