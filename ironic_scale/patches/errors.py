"""What can go wrong with the patch series, each with the exit code ``ironic-scale patches`` uses.

They are ValueErrors so the top-level command prints any of them as one line; the
``patches`` subcommand maps the does-not-fit ones to their own exit codes, so scripts can
tell "wrong Ironic" from "someone edited the files" without parsing text.
"""

from __future__ import annotations

# Exit codes of `ironic-scale patches check` (and of apply/revert/copy on the same conditions).
EXIT_OK = 0
EXIT_ERROR = 2  # bad input: no series, bad patch file, no Ironic, read-only tree, ...
EXIT_VERSION = 3  # installed Ironic is not the version the series was made for (or unknown)
EXIT_CHANGED = 4  # files that are neither stock nor patched: changed by someone else
EXIT_PARTLY = 5  # some files patched, others stock (an interrupted apply?)
EXIT_OTHER_SERIES = 6  # another series' record is in force: revert that one first


class PatchesError(ValueError):
    """Any failure of the patch tool that is the input's fault, not a bug."""


class SeriesError(PatchesError):
    """The series directory, the series file or a patch file is malformed."""


class NotWritable(PatchesError):
    """The tree cannot be written (checked before anything is changed)."""


class RevertRefused(PatchesError):
    """Patched files were changed after apply, or there is no record to revert from."""


class DoesNotFit(PatchesError):
    """The series does not fit the installed tree; ``code`` says why (EXIT_*)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
