"""Writing output files safely: never half-written, never overwriting without ``force``.

    >>> check_outputs([Path("out.json")], force=False)     # raises if out.json exists
    >>> with atomic_output(Path("out.json")) as tmp:        # doctest: +SKIP
    ...     tmp.write_text("{}")                            # renamed onto out.json on success

A failure (or Ctrl-C) while writing leaves the previous file, or no file, never a partial one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from symbolic_v2m.errors import InputError, OutputExistsError


def check_outputs(paths: Iterable[Path], force: bool, inputs: Iterable[Path] = ()) -> None:
    """Fail before any work if an output exists (without ``force``), is a directory, or would
    overwrite an input."""
    resolved_inputs = {p.resolve() for p in inputs}
    for path in paths:
        if path.resolve() in resolved_inputs:
            raise InputError(f"{path}: output would overwrite the input file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory; give a file name for the output")
        if path.exists() and not force:
            raise OutputExistsError(f"{path}: already exists (pass --force to overwrite it)")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file keeps ``path``'s suffix so that writers that pick a format from the name
    (matplotlib, pretty_midi) behave as they would for ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.partial.", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
