"""Git blob ids: the per-file checksums the series' ``index`` lines already carry.

``git format-patch --full-index`` writes ``index <pre>..<post>`` for every file, where each
side is sha1(b"blob <len>\\0" + content). Recomputing it over an installed file tells
stock, patched or "changed by someone else" apart without a separate manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ABSENT = "0" * 40  # git's id for "no file" (the pre side of a new file, the post side of a deletion)


def blob_sha1(data: bytes) -> str:
    """The id git gives a file with this content."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def file_sha1(path: Path) -> str:
    """The blob id of the file at ``path``, or ABSENT if there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ABSENT
    return blob_sha1(data)
