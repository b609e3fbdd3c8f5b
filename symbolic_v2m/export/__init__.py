"""Writing results: safe output files and timeline pictures (MIDI, MusicXML, audio come later)."""

from symbolic_v2m.export.files import atomic_output, check_outputs
from symbolic_v2m.export.plot import write_analysis_plot

__all__ = ["atomic_output", "check_outputs", "write_analysis_plot"]
