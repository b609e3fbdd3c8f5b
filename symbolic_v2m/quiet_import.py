"""Import a third-party module without what it prints to standard output.

    >>> pretty_midi = quiet_import("pretty_midi")

pyfluidsynth, which pretty_midi imports, prints "'fluidsynth' was found at ..." to standard
output whenever the ``CI`` environment variable is set. The CLI's standard output is data
(``-q`` promises nothing, ``--version`` one line), so that line would corrupt it; this is the
one place that imports those modules and swallows it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from types import ModuleType


def quiet_import(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with standard output discarded during the import."""
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(name)
