"""Writing output files safely: never half-written, never overwriting without ``force``.

    >>> check_outputs([Path("out.json")], force=False)     # raises if out.json exists
    >>> with atomic_output(Path("out.json")) as tmp:        # doctest: +SKIP
    ...     tmp.write_text("{}")                            # renamed onto out.json on success

A failure (or Ctrl-C, or SIGTERM: the CLI turns it into an exception) while writing leaves the
previous file, or no file, never a partial one. A folder that cannot be written (read-only,
no permission) is found before any work; a full disk while writing is an :class:`OutputError`
that names the file.

A new output gets the permissions a plain ``open()`` would give it (``0o666`` less the umask:
``-rw-r--r--`` under the usual umask 022); an overwritten one (``--force``) keeps its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from symbolic_v2m.errors import InputError, OutputError, OutputExistsError

#: OS errors that mean "this output cannot be written here", as opposed to a bug
_WRITE_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.ENOTDIR,
}


def _writable_folder(path: Path) -> None:
    """Fail if the folder that will hold ``path`` cannot be created or written."""
    folder = path.parent
    while not folder.exists():  # the nearest existing ancestor is the one mkdir needs
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: folder {folder} is not writable")


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
        _writable_folder(path)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file keeps ``path``'s suffix so that writers that pick a format from the name
    (matplotlib, pretty_midi) behave as they would for ``path``. The finished file has the mode
    described in the module doc.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        yield tmp
        if path.exists():  # --force: the file the user had keeps its permissions
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise _output_error(path, exc) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly these bytes
    (regeneration rewrites only the stems that changed, so a DAW keeps the others); returns
    whether it wrote."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return True


def _create_temporary(path: Path) -> Path:
    """Create an empty, new temporary file beside ``path`` and return its path.

    Not ``tempfile.mkstemp``: it creates the file ``0o600`` whatever the umask, and the rename
    would hand that mode on to the output. Created ``0o666`` with ``O_EXCL``, the file gets
    exactly what ``open()`` would give (the umask applies) without reading the umask, which
    only ``os.umask`` can do and only by changing it for every thread.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = path.parent / f".{path.stem}.partial.{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(name, flags, 0o666))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(path.parent))


def _output_error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason += " (free some space or choose another --out folder)"
    return OutputError(f"{path}: cannot write ({reason}); nothing was written there")
