"""Writing output files safely: never half-written, never overwriting without ``force``.

    >>> check_outputs([Path("out.json")], force=False)     # raises if out.json exists
    >>> with atomic_output(Path("out.json")) as tmp:        # doctest: +SKIP
    ...     tmp.write_text("{}")                            # renamed onto out.json on success

A failure (or Ctrl-C, or SIGTERM: the CLI turns it into an exception) while writing leaves the
previous file, or no file, never a partial one. A folder that cannot be written (read-only,
no permission) is found before any work; a full disk while writing is an :class:`OutputError`
that names the file.

A run's outputs as a whole are one :class:`OutputSet`: staged beside the folder's files and
moved in together, so that the folder never holds new files beside old ones.

A new output gets the permissions a plain ``open()`` would give it (``0o666`` less the umask:
``-rw-r--r--`` under the usual umask 022); an overwritten one (``--force``) keeps its own.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from symbolic_v2m.errors import InputError, OutputError, OutputExistsError

#: OS errors that mean "this output cannot be written here", as opposed to a bug
WRITE_ERRNOS = {
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
        raise output_error(path, exc) from None
    try:
        yield tmp
        if path.exists():  # --force: the file the user had keeps its permissions
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise output_error(path, exc) from None
    finally:
        if tmp.exists():
            tmp.unlink()


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


def output_error(path: Path, exc: OSError) -> OutputError:
    """The one-line error for an output (or a folder) that could not be written."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason += " (free some space or choose another --out folder)"
    return OutputError(f"{path}: cannot write ({reason}); nothing was written there")


@dataclass(frozen=True)
class Committed:
    """What :meth:`OutputSet.commit` did: every output of the new set (``files``, by kind),
    those left untouched because they came out byte for byte as they were (``unchanged``), and
    the earlier run's files of kinds this run did not produce, removed so that nothing stale
    stays beside the new set (``removed``)."""

    files: dict[str, Path]
    unchanged: frozenset[str]
    removed: dict[str, Path]


class OutputSet:
    """A run's outputs, written to a hidden folder beside them and put in place together.

        >>> paths = {"midi": out / "clip.mid", "wav": out / "clip.wav"}
        >>> with OutputSet(paths) as outputs:                    # doctest: +SKIP
        ...     write_midi(arrangement, outputs.path("midi"))
        ...     committed = outputs.commit()

    Each writer writes its file (atomically, as everywhere) under :meth:`path`; nothing in the
    folder changes until :meth:`commit`, which moves the whole set in with SIGINT and SIGTERM
    held back, so the folder is always either the previous set or the new one. A failure or an
    interrupt before the commit, or leaving the ``with`` without one, removes the staging
    folder (and an output folder this set created), and the folder is as it was. A commit that
    fails part-way (a rename refused) puts the previous files back before it raises.

    Why not one atomic rename per file: a set of files (MIDI, audio, video, project) that must
    match each other cannot be replaced by independent renames without a moment, or a failure,
    that leaves new files beside old ones.
    """

    def __init__(self, paths: Mapping[str, Path]) -> None:
        self._finals = {kind: Path(p) for kind, p in paths.items()}
        folders = {p.parent.resolve() for p in self._finals.values()}
        if len(folders) > 1:
            raise ValueError(f"an output set lives in one folder, not {len(folders)}")
        self._folder = next(iter(self._finals.values())).parent if self._finals else Path(".")
        self._staging: Path | None = None
        self._created_folder: Path | None = None

    def __enter__(self) -> OutputSet:
        folder = self._folder
        try:
            if not folder.exists():
                top = folder
                while not top.parent.exists():
                    top = top.parent
                folder.mkdir(parents=True)
                self._created_folder = top
            self._staging = Path(tempfile.mkdtemp(prefix=".v2m-partial-", dir=folder))
        except OSError as exc:
            raise output_error(folder, exc) from None
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        staging = self._staging
        if staging is not None:
            _remove_tree(staging)
            self._staging = None
        if self._created_folder is not None:  # the run failed before its commit: undo the mkdir
            with contextlib.suppress(OSError):
                _remove_empty_folders(self._folder, self._created_folder)
        if isinstance(exc, OutputError) and staging is not None and str(staging) in str(exc):
            # a writer failed on its staged file: name the output the user knows
            raise OutputError(str(exc).replace(str(staging), str(self._folder))) from None

    @property
    def staging(self) -> Path:
        """The staging folder: room for a writer's scratch files, removed with it."""
        if self._staging is None:
            raise RuntimeError("OutputSet.staging outside its with block")
        return self._staging

    @property
    def kinds(self) -> tuple[str, ...]:
        """The outputs of the set, by kind (``midi``, ``wav``, ``stem.melody.mid`` ...)."""
        return tuple(self._finals)

    def path(self, kind: str) -> Path:
        """Where the writer of ``kind`` writes (the output's own name, in the staging folder)."""
        if self._staging is None:
            raise RuntimeError("OutputSet.path() outside its with block")
        return self._staging / self._finals[kind].name

    def add(self, kind: str, final: Path) -> Path:
        """Add an output that was not known when the set began (a variation); its path."""
        final = Path(final)
        if final.parent.resolve() != self._folder.resolve():
            raise ValueError(f"{final}: not in the set's folder {self._folder}")
        self._finals[kind] = final
        return self.path(kind)

    def commit(self, on_commit: Callable[[], None] | None = None) -> Committed:
        """Put the new set in place (class doc) and return what it did; ``on_commit`` is called
        once the folder holds the new set, before held-back signals are let through (so a caller
        that is interrupted then knows the new set is complete)."""
        if self._staging is None:
            raise RuntimeError("OutputSet.commit() outside its with block")
        produced = {k: f for k, f in self._finals.items() if self.path(k).is_file()}
        unchanged = frozenset(k for k, f in produced.items() if _same_bytes(self.path(k), f))
        stale = {k: f for k, f in self._finals.items() if k not in produced and f.exists()}
        moving = {k: f for k, f in produced.items() if k not in unchanged}
        backup = self._staging / ".previous"
        backup.mkdir()
        with _signals_held():
            done: list[tuple[Path, Path]] = []  # (from, to), in order, to undo on failure
            try:
                for kind, final in {**moving, **stale}.items():
                    if final.exists():
                        if kind in moving:  # --force: the file the user had keeps its mode
                            os.chmod(self.path(kind), stat.S_IMODE(final.stat().st_mode))
                        os.replace(final, backup / final.name)
                        done.append((final, backup / final.name))
                for kind, final in moving.items():
                    os.replace(self.path(kind), final)
                    done.append((self.path(kind), final))
            except OSError as exc:
                for source, target in reversed(done):
                    with contextlib.suppress(OSError):
                        os.replace(target, source)
                raise output_error(self._folder, exc) from None
            self._created_folder = None  # the folder now holds the new set: keep it
            if on_commit is not None:
                on_commit()
            # still with the signals held: a Ctrl-C that waited for the commit must not cut
            # the removal of the previous files short and leave them behind
            _remove_tree(self._staging)
            self._staging = None
        return Committed(produced, unchanged, stale)


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes (a regenerated stem that did not change stays
    untouched, so a DAW keeps what it imported)."""
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    return filecmp.cmp(a, b, shallow=False)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (are delivered when the block ends) while the set is replaced.

    Two layers, because blocking at the OS level alone is not enough: a signal that reached
    the process just before the block has already tripped Python's flag, and its Python
    handler would run at the next bytecode, inside the block. So in the main thread (the only
    one whose Python handlers run) the handlers are swapped for ones that only note the signal,
    and each noted signal is raised again once the block has ended and the real handlers are
    back. Elsewhere only the OS mask holds them (Python runs no handler in other threads)."""
    held = (signal.SIGINT, signal.SIGTERM)
    if not hasattr(signal, "pthread_sigmask"):  # Windows: nothing to hold them with
        yield
        return
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    noted: list[int] = []
    handlers: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in held:
            handlers[signum] = signal.signal(signum, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        try:
            for signum, handler in handlers.items():  # back before a held signal is let through
                if handler is not None:  # None: set outside Python, nothing to put back
                    signal.signal(signum, handler)  # type: ignore[arg-type]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


def _remove_tree(folder: Path) -> None:
    """Remove the staging folder whole, even when a signal handler raises (``Stopped``) in the
    middle: the removal is finished before the exception goes on."""
    with _signals_held():
        try:
            shutil.rmtree(folder, ignore_errors=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def _remove_empty_folders(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` (inclusive) while they are empty."""
    folder, top = folder.resolve(), top.resolve()
    while True:
        folder.rmdir()  # OSError when not empty: the caller stops there
        if folder == top:
            return
        folder = folder.parent
