"""symbolic_v2m: compose an editable soundtrack for a video."""

__version__ = "0.1.0"
