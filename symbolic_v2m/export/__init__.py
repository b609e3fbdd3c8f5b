"""Writing results: safe output files, timeline pictures, MIDI, MusicXML, WAV and the muxed MP4."""

from symbolic_v2m.export.audio import find_soundfont, render_wav
from symbolic_v2m.export.files import atomic_output, check_outputs
from symbolic_v2m.export.midi import write_midi
from symbolic_v2m.export.musicxml import write_musicxml
from symbolic_v2m.export.plot import write_analysis_plot, write_timeline_plot
from symbolic_v2m.export.video import mux_audio

__all__ = [
    "atomic_output",
    "check_outputs",
    "find_soundfont",
    "mux_audio",
    "render_wav",
    "write_analysis_plot",
    "write_midi",
    "write_musicxml",
    "write_timeline_plot",
]
