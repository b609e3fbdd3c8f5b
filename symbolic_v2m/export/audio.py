"""MIDI -> WAV with FluidSynth (through pyfluidsynth and pretty_midi) and a General MIDI soundfont.

    >>> render_wav(Path("clip.mid"), Path("clip.wav"))   # doctest: +SKIP
    PosixPath('clip.wav')

FluidSynth and the soundfont are optional system parts: without them rendering raises
:class:`~symbolic_v2m.errors.MissingPartError`, and the caller skips the audio with a warning.
Which soundfont is used, and why that order, is in ``soundfonts/README.md``.

The WAV is mono (pretty_midi mixes its per-instrument renders down to one channel; the tracks are
not panned, so little is lost), 16-bit, peaks at about -1 dBFS, and lasts as long as the MIDI file
(its last end-of-track, i.e. the score's last bar line) plus :data:`RELEASE_TAIL` seconds in which
the last notes and the reverb die away.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import mido
import numpy as np
from scipy.io import wavfile

from symbolic_v2m.errors import MissingPartError
from symbolic_v2m.export.files import atomic_output
from symbolic_v2m.quiet_import import quiet_import

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
    synthesizer, sfid = _synthesizer(find_soundfont(soundfont), sample_rate)
    try:
        midi = quiet_import("pretty_midi").PrettyMIDI(str(midi_path))
        samples = midi.fluidsynth(fs=sample_rate, synthesizer=synthesizer, sfid=sfid)
    finally:
        synthesizer.delete()
    # pretty_midi stops one second after the last note; the file may end later (rests in the
    # last bar), and the WAV should cover the whole piece.
    length = round((mido.MidiFile(str(midi_path)).length + RELEASE_TAIL) * sample_rate)
    audio = np.zeros(max(length, samples.shape[0]))
    audio[: samples.shape[0]] = np.nan_to_num(samples)  # pretty_midi divides silence by 0
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio *= 10 ** (PEAK_DBFS / 20) / peak
    pcm = np.round(audio * 32767).astype(np.int16)
    wav_path = Path(wav_path)
    with atomic_output(wav_path) as tmp:
        wavfile.write(tmp, sample_rate, pcm)
    return wav_path


def _synthesizer(soundfont: Path, sample_rate: int) -> tuple[object, int]:
    """A ``fluidsynth.Synth`` with ``soundfont`` loaded, and the soundfont's id in it."""
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
    synthesizer = fluidsynth.Synth(samplerate=float(sample_rate), **settings)
    sfid = synthesizer.sfload(str(soundfont))
    if sfid == -1:
        synthesizer.delete()
        raise MissingPartError(
            f"soundfont {soundfont} could not be loaded by FluidSynth; {_INSTALL_SOUNDFONT}"
        )
    return synthesizer, sfid


def _pretty_midi_soundfont() -> Path | None:
    """pretty_midi's bundled TimGM6mb.sf2, if the installed wheel has it."""
    try:
        path = Path(str(importlib.resources.files(quiet_import("pretty_midi")) / "TimGM6mb.sf2"))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None
