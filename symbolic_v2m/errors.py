"""User-facing errors.

Every error a user can cause (a bad path, an unreadable video, an output that already exists)
is a :class:`V2MError` whose message is one line that names the file and the problem and,
where there is one, the fix. The CLI prints the message and exits with ``exit_code``;
invariants inside the library stay plain ``assert`` statements.

Example:
    >>> try:
    ...     raise VideoError("clip.mp4: no video stream (is it an audio-only file?)")
    ... except V2MError as err:
    ...     print(err, err.exit_code)
    clip.mp4: no video stream (is it an audio-only file?) 1
"""

from __future__ import annotations


class V2MError(Exception):
    """Base class of the errors a user can cause and fix; the message is one line."""

    exit_code: int = 1


class InputError(V2MError):
    """An input path that does not exist, is a directory, or cannot be read."""


class VideoError(InputError):
    """A file that exists but is not a video we can decode (no video stream, no frames, ...)."""


class OutputExistsError(V2MError):
    """An output file is already there and ``--force`` was not given."""


class OutputError(V2MError):
    """An output that cannot be written: a read-only folder, no permission, a full disk. The
    message names the path and the system's reason; nothing half-written is left behind."""


class ConfigError(V2MError):
    """An option value that cannot be used (found only once the input is known, e.g. a
    progression for section 5 of a 3-section video): a usage error, exit status 2."""

    exit_code = 2


class DataError(InputError):
    """A training-corpus file that is missing or malformed (names the file and the line)."""


class MissingPartError(V2MError):
    """An optional system part is missing (FluidSynth, a soundfont, ffmpeg).

    The message says what is missing and how to install it; the caller warns and skips the
    output that needed it, and the rest of the job completes.
    """


class ExportError(V2MError):
    """An external tool failed while writing an output; the message ends with its last line."""


class Cancelled(Exception):
    """Work in a helper thread (rendering beside the score's export) ended early because its
    run is ending for another reason; that reason is what the user sees, never this."""
