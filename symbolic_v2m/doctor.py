"""What is installed, and what each missing part disables (``symbolic-v2m doctor``).

    >>> for check in check_system():                        # doctest: +SKIP
    ...     print(check.name, check.ok, check.detail)
    ffmpeg True /usr/bin/ffmpeg

The video analysis cannot run without ffmpeg and ffprobe (they decode every video), so those
are *required*; FluidSynth, a soundfont and MuseScore are optional: without them the WAV, the
MP4 (which needs the WAV) or a notation-import test is skipped with a warning and every other
output is still written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from symbolic_v2m.errors import V2MError


@dataclass(frozen=True)
class Check:
    """One part of the system: found or not, where or why, and what it is needed for."""

    name: str
    ok: bool
    detail: str
    needed_for: str
    required: bool = False


def _tool(name: str, needed_for: str, required: bool = False, install: str = "") -> Check:
    path = shutil.which(name)
    detail = path or f"not found on PATH (Debian/Ubuntu: apt-get install {install or name})"
    return Check(name, path is not None, detail, needed_for, required)


def _fluidsynth() -> Check:
    from symbolic_v2m.quiet_import import quiet_import

    needed = "the WAV and the MP4 (FluidSynth renders the audio)"
    try:
        module = quiet_import("fluidsynth")
        version = getattr(module, "__version__", "")
        return Check("FluidSynth library", True, f"pyfluidsynth {version}".strip(), needed)
    except (ImportError, OSError) as exc:
        detail = f"{exc} (Debian/Ubuntu: apt-get install fluidsynth libfluidsynth3)"
        return Check("FluidSynth library", False, detail, needed)


def _soundfont() -> Check:
    from symbolic_v2m.export.audio import find_soundfont

    needed = "the WAV and the MP4 (General MIDI sounds)"
    try:
        return Check("soundfont", True, str(find_soundfont()), needed)
    except V2MError as err:
        return Check("soundfont", False, str(err), needed)


def _torch() -> Check:
    import torch

    cuda = torch.cuda.is_available()
    device = f"CUDA ({torch.cuda.get_device_name(0)})" if cuda else "CPU only"
    return Check("torch", True, f"{torch.__version__}, {device}", "generation", required=True)


def _weights() -> Check:
    from symbolic_v2m.model import default_weights_path

    missing = [
        stage
        for stage in ("chord", "melody", "accompaniment")
        if not default_weights_path(stage).is_file()
    ]
    detail = "chord, melody, accompaniment" if not missing else f"missing: {', '.join(missing)}"
    return Check("default weights", not missing, detail, "compose and regenerate", required=True)


def check_system() -> list[Check]:
    """Every part the tool uses, required ones first."""
    return [
        _tool("ffmpeg", "reading any video, the MP4 output", required=True),
        _tool("ffprobe", "reading any video", required=True, install="ffmpeg"),
        _torch(),
        _weights(),
        _fluidsynth(),
        _soundfont(),
        _tool(
            "mscore3",
            "only the test that imports our MIDI into a notation program",
            install="musescore3",
        ),
    ]
