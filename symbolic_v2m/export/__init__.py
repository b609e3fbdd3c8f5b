"""Writing results: safe output files, timeline pictures, MIDI, MusicXML, WAV and the muxed MP4.

The entry points are imported on first use (PEP 562): training and data preparation need only
the atomic writes of :mod:`.files`, and should not pay for (or, on a bare GPU machine, need)
music21, OpenCV and PySceneDetect, which the MusicXML and picture writers bring in.
"""

from __future__ import annotations

import importlib
from typing import Any

_ENTRY_POINTS = {
    "atomic_output": "files",
    "check_outputs": "files",
    "check_soundfont": "audio",
    "Committed": "files",
    "OutputSet": "files",
    "find_soundfont": "audio",
    "mux_audio": "video",
    "render_audio": "audio",
    "render_wav": "audio",
    "write_analysis_plot": "plot",
    "write_midi": "midi",
    "write_stem_midi": "midi",
    "write_musicxml": "musicxml",
    "write_timeline_plot": "plot",
    "write_wav": "audio",
}

__all__ = sorted(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name in _ENTRY_POINTS:
        module = importlib.import_module(f"{__name__}.{_ENTRY_POINTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
