"""The checks every reader of an outside file makes before parsing it: there, not empty, not
absurdly large, readable. One place, so that every reader words them the same way."""

from __future__ import annotations

from pathlib import Path

from symbolic_v2m.errors import InputError


def read_input_file(path: Path, kind: str, max_bytes: int) -> bytes:
    """The bytes of the ``kind`` file (``"MIDI"``, ``"MusicXML"``) at ``path``.

    Raises:
        InputError: one line naming the file: missing, empty, larger than ``max_bytes``, or
            unreadable.
    """
    if not path.is_file():
        raise InputError(f"{path}: {kind} file not found")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file (0 bytes), not a {kind} file")
    if size > max_bytes:
        raise InputError(
            f"{path}: {size / (1 << 20):.1f} MiB is too large for a {kind} file here "
            f"(the limit is {max_bytes >> 20} MiB)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
