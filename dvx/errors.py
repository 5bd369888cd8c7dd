"""The one error hierarchy of dvx.

Every error meant for a user is a :class:`DvxError`. It carries the exit code the
CLI returns (SPEC §10: 1 when the work failed, 2 for usage or configuration
errors) and an optional hint. The CLI prints ``dvx: error: MESSAGE`` and the hint,
with no traceback unless ``-v`` is given. This module imports nothing from dvx.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CRASH = 3
EXIT_INTERRUPTED = 130


class DvxError(Exception):
    """An error reported to the user without a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(DvxError):
    """The command line or the repository's files are wrong (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config file, stage file, lock file or pointer file is invalid (exit 2)."""


class StageFileError(ConfigError):
    """``dvx.yaml`` is invalid; the message starts with ``FILE:LINE:``."""


class FormatVersionError(ConfigError):
    """A persisted file has a format version newer than this dvx understands."""


class UnsafePathError(ConfigError):
    """A path read from a file points outside the repository or into .git/.dvx."""


class NotARepoError(UsageError):
    """No dvx repository (or git repository) where one is needed."""


class RepoLockedError(DvxError):
    """Another dvx process holds the repository lock (exit 1)."""


class StageFailedError(DvxError):
    """A stage's command failed (exit 1)."""


class MissingOutputError(DvxError):
    """A command finished but did not produce a declared output (exit 1)."""


class CacheMissError(DvxError):
    """An object needed for checkout is not in the cache (exit 1)."""


class CorruptObjectError(DvxError):
    """An object's bytes do not match its hash (exit 1)."""
