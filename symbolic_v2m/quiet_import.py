"""Keep third-party output out of the user's terminal: what a module prints to standard output
on import, and what native libraries write to stderr.

    >>> pretty_midi = quiet_import("pretty_midi")

pyfluidsynth, which pretty_midi imports, prints "'fluidsynth' was found at ..." to standard
output whenever the ``CI`` environment variable is set. The CLI's standard output is data
(``-q`` promises nothing, ``--version`` one line), so that line would corrupt it; this is the
one place that imports those modules and swallows it. :func:`native_stderr` does the same for
FluidSynth's C-level messages (logged at DEBUG instead).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType


def quiet_import(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with standard output discarded during the import."""
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(name)


@contextlib.contextmanager
def native_stderr(logger: logging.Logger) -> Iterator[list[str]]:
    """Catch what native libraries write to file descriptor 2 while the block runs.

    FluidSynth and the GLib code under it print straight to the process's stderr
    (``fluidsynth: error: ...``, ``CRITICAL **: ipatch_container_init_iter ...``), which
    ``contextlib.redirect_stderr`` cannot catch: only redirecting the descriptor can. The
    lines are logged at DEBUG (shown with ``--debug``) and yielded as a list, filled when the
    block ends, so that a caller can name the library's own reason in its error.
    """
    lines: list[str] = []
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to catch
        yield lines
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())
            for line in lines:
                logger.debug("%s", line)
