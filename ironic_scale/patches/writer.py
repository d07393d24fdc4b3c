"""Change several files so that either every change lands or none does.

Each new content is first written in full to a temp file beside its target (same directory,
so ``os.replace`` is an atomic rename), then the renames and deletions run; if any step fails,
or Ctrl-C/SIGTERM arrives, the steps already done are undone from the old bytes the caller
handed in, and directories made for new files are removed again. A SIGKILL between two renames
cannot be undone here; that is what the record in ``state`` is for (``revert`` finishes it).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMP_PREFIX = ".ironic-scale-"


@dataclass
class _Change:
    path: Path
    old: bytes | None  # None: the file does not exist now
    new: bytes | None  # None: delete it
    mode: int
    tmp: Path | None = None
    done: bool = False


class Transaction:
    """Queue file changes with ``write``/``delete``, then ``commit`` them all or none."""

    def __init__(self) -> None:
        self._changes: list[_Change] = []
        self.created_dirs: list[Path] = []  # parents first; filled by commit

    def write(self, path: Path, old: bytes | None, new: bytes, mode: int | None = None) -> None:
        """Give ``path`` the content ``new``; ``old`` is what it holds now (None: absent)."""
        if mode is None:
            mode = path.stat().st_mode & 0o7777 if old is not None else 0o644
        self._changes.append(_Change(path, old, new, mode))

    def delete(self, path: Path, old: bytes, mode: int | None = None) -> None:
        """Remove ``path``, which holds ``old`` now."""
        if mode is None:
            mode = path.stat().st_mode & 0o7777
        self._changes.append(_Change(path, old, None, mode))

    def commit(self) -> None:
        try:
            for c in self._changes:
                if c.new is not None:
                    self._make_parents(c.path.parent)
                    c.tmp = _stage(c.path, c.new, c.mode)
            for c in self._changes:
                if c.new is None:
                    os.unlink(c.path)
                else:
                    assert c.tmp is not None
                    os.replace(c.tmp, c.path)
                    c.tmp = None
                c.done = True
            for d in {c.path.parent for c in self._changes if c.path.parent.exists()}:
                fsync_dir(d)
        except BaseException:
            self._rollback()
            raise

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            d.mkdir()
            self.created_dirs.append(d)

    def _rollback(self) -> None:
        """Undo in reverse order; keep going past errors so as much as possible is restored."""
        for c in reversed(self._changes):
            if c.tmp is not None:
                _unlink_quietly(c.tmp)
            if not c.done:
                continue
            try:
                if c.old is None:
                    os.unlink(c.path)
                else:
                    os.replace(_stage(c.path, c.old, c.mode), c.path)
            except OSError:
                pass
        for d in reversed(self.created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        self.created_dirs = []


def _stage(path: Path, data: bytes, mode: int) -> Path:
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, mode)
    except BaseException:
        _unlink_quietly(Path(name))
        raise
    return Path(name)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (the directory's own entry)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def probe_writable(directory: Path) -> None:
    """Raise OSError unless a file can really be created in ``directory`` (or its nearest existing parent).

    A real create, not ``os.access``: it also catches read-only mounts and immutable dirs.
    """
    while not directory.exists():
        directory = directory.parent
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe-", dir=directory)
    os.close(fd)
    os.unlink(name)
