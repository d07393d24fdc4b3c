"""Git unified diffs, parsed and applied in Python, byte for byte, with no fuzz.

Written by hand on purpose. The tool runs in conductor venvs and container builds that often
have neither ``git`` nor ``patch``, so it cannot shell out, and the libraries tried (2026-12)
do not fit: whatthepatch 1.0.7 reads format-patch's ``-- `` signature line as a removed line and
then fails with IndexError, and applies on str lines, losing a missing final newline; patch-ng
1.19.1 applies file by file in place (``.orig`` backups), not all or nothing across files, and
offers fuzz; unidiff 1.0.1 parses these files well but does not apply, and would add a
dependency to every conductor venv for the easy half. What is needed is small: exact-context
hunks at the line they name, on bytes, checked by git blob id before and after.

Renames, copies, mode changes and binary diffs are refused with a one-line error: the series is
made with ``git format-patch --full-index --no-renames`` and none of them occur in it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ironic_scale.patches.checksum import ABSENT
from ironic_scale.patches.errors import PatchesError, SeriesError

_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_INDEX = re.compile(rb"index ([0-9a-f]+)\.\.([0-9a-f]+)(?: ([0-7]{6}))?\n?$")
_MODE = re.compile(rb"(?:new|deleted) file mode ([0-7]{6})\n?$")
_REFUSED = {
    b"old mode": "mode changes are not supported",
    b"new mode": "mode changes are not supported",
    b"similarity index": "renames and copies are not supported (make the series with --no-renames)",
    b"dissimilarity index": "renames and copies are not supported (make the series with --no-renames)",
    b"rename from": "renames are not supported (make the series with --no-renames)",
    b"copy from": "copies are not supported (make the series with --no-renames)",
    b"Binary files": "binary diffs are not supported",
    b"GIT binary patch": "binary diffs are not supported",
}


class HunkMismatch(PatchesError):
    """A hunk's lines are not in the file at the line the hunk names."""


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block: the lines the file must have there, and what replaces them.

    Lines keep their endings (``\\r\\n`` stays), and the last line of a file that has no
    final newline has none, so joining them rebuilds the bytes exactly.
    """

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    old: tuple[bytes, ...]
    new: tuple[bytes, ...]


@dataclass(frozen=True)
class FileDiff:
    """What one patch does to one file: its path, blob ids before and after, and hunks."""

    path: str
    pre: str  # blob id before (ABSENT for a new file)
    post: str  # blob id after (ABSENT for a deleted file)
    mode: int | None  # a new file's mode, e.g. 0o644
    hunks: tuple[Hunk, ...]

    @property
    def created(self) -> bool:
        return self.pre == ABSENT

    @property
    def deleted(self) -> bool:
        return self.post == ABSENT


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their ``\\n`` kept; only ``\\n`` ends one (``bytes.splitlines`` also splits at ``\\r``)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def apply_hunks(data: bytes, hunks: tuple[Hunk, ...], path: str) -> bytes:
    """The file after the hunks, each matched exactly at its stated line (no offset, no fuzz)."""
    src = split_lines(data)
    out: list[bytes] = []
    pos = 0
    for n, h in enumerate(hunks, 1):
        # "-L,0" names the line after which the new lines go; otherwise L is the first old line.
        start = h.old_start if h.old_len == 0 else h.old_start - 1
        if start < pos or src[start:start + h.old_len] != list(h.old):
            raise HunkMismatch(f"{path}: hunk {n} does not match the file at line {h.old_start}")
        out.extend(src[pos:start])
        out.extend(h.new)
        pos = start + h.old_len
    out.extend(src[pos:])
    return b"".join(out)


def parse_diffs(data: bytes, origin: str) -> list[FileDiff]:
    """Every file diff in ``data`` (a format-patch file or plain ``git diff --full-index`` output).

    Text before the first ``diff --git`` (mail header, message, diffstat) is skipped; parsing
    stops at format-patch's ``-- `` signature line.
    """
    return _Parser(split_lines(data), origin).files()


class _Parser:
    def __init__(self, lines: list[bytes], origin: str) -> None:
        self.lines = lines
        self.origin = origin
        self.i = 0

    def error(self, message: str, at: int | None = None) -> SeriesError:
        return SeriesError(f"{self.origin}: line {(self.i if at is None else at) + 1}: {message}")

    def peek(self) -> bytes | None:
        return self.lines[self.i] if self.i < len(self.lines) else None

    def files(self) -> list[FileDiff]:
        while (line := self.peek()) is not None and not line.startswith(b"diff --git "):
            self.i += 1
        out: list[FileDiff] = []
        while (line := self.peek()) is not None:
            if line.startswith(b"diff --git "):
                out.append(self.file())
            elif line.rstrip(b"\n") == b"-- ":  # the signature: only git's version follows
                break
            elif not line.strip():
                self.i += 1
            else:
                raise self.error(f"unexpected line {_show(line)}")
        if not out:
            raise SeriesError(f"{self.origin}: no 'diff --git' in it")
        return out

    def file(self) -> FileDiff:
        start, paths = self.i, self.lines[self.i][len(b"diff --git "):]
        self.i += 1
        pre = post = None
        mode = None
        while (line := self.peek()) is not None and not line.startswith((b"diff --git ", b"--- ", b"@@")):
            if line.rstrip(b"\n") == b"-- ":
                break
            for prefix, why in _REFUSED.items():
                if line.startswith(prefix):
                    raise self.error(f"{_show(paths)}: {why}")
            if m := _INDEX.match(line):
                if len(m[1]) != 40 or len(m[2]) != 40:
                    raise self.error(f"{_show(paths)}: abbreviated blob ids (make the series with "
                                     "--full-index)")
                pre, post = m[1].decode(), m[2].decode()
            elif m := _MODE.match(line):  # new or deleted file; any other mode change is refused
                mode = int(m[1], 8) & 0o777
            else:
                raise self.error(f"{_show(paths)}: unknown header line {_show(line)}")
            self.i += 1
        path = self.git_path(paths, start)  # after the headers: they name renames and copies better
        if pre is None or post is None:
            raise self.error(f"{path}: no 'index' line (make the series with git format-patch --full-index)")
        hunks: list[Hunk] = []
        if (line := self.peek()) is not None and line.startswith(b"--- "):
            self.side(line[4:], b"a/", pre, path)
            self.i += 1
            line = self.peek()
            if line is None or not line.startswith(b"+++ "):
                raise self.error(f"{path}: '---' without '+++'")
            self.side(line[4:], b"b/", post, path)
            self.i += 1
            while (line := self.peek()) is not None and line.startswith(b"@@"):
                hunks.append(self.hunk(path))
        if not hunks and pre != ABSENT and post != ABSENT and pre != post:
            raise self.error(f"{path}: content changes but the diff has no hunks")
        return FileDiff(path=path, pre=pre, post=post, mode=mode if pre == ABSENT else None,
                        hunks=tuple(hunks))

    def git_path(self, rest: bytes, at: int) -> str:
        """The path from ``a/P b/P`` (either side may be C-quoted, as git does for odd names)."""
        rest = rest.rstrip(b"\n")
        if rest.startswith(b'"'):
            end = _quoted_end(rest)
            a, b = rest[:end], rest[end + 1:]
        else:
            half = (len(rest) - 1) // 2
            a, b = rest[:half], rest[half + 1:]
        a_path, b_path = _unquote(a), _unquote(b)
        if not a_path.startswith("a/") or not b_path.startswith("b/") or a_path[2:] != b_path[2:]:
            raise self.error(f"cannot read the paths of {_show(b'diff --git ' + rest)} "
                             "(renames are not supported)", at)
        path = a_path[2:]
        if path.startswith("/") or any(p in ("", ".", "..") for p in path.split("/")):
            raise self.error(f"unsafe path {path!r}", at)
        return path

    def side(self, raw: bytes, prefix: bytes, blob: str, path: str) -> None:
        name = raw.rstrip(b"\n").split(b"\t")[0]
        if name == b"/dev/null":
            if blob != ABSENT:
                raise self.error(f"{path}: /dev/null on a side whose blob id is not 0")
            return
        if _unquote(name) != prefix.decode() + path:
            raise self.error(f"{path}: '---'/'+++' name another file: {_show(name)}")

    def hunk(self, path: str) -> Hunk:
        m = _HUNK.match(self.lines[self.i])
        if not m:
            raise self.error(f"{path}: bad hunk header {_show(self.lines[self.i])}")
        old_start, new_start = int(m[1]), int(m[3])
        old_len = 1 if m[2] is None else int(m[2])
        new_len = 1 if m[4] is None else int(m[4])
        self.i += 1
        old: list[bytes] = []
        new: list[bytes] = []
        while len(old) < old_len or len(new) < new_len:
            line = self.peek()
            if line is None:
                raise self.error(f"{path}: hunk ends early (file truncated?)")
            tag, text = line[:1], line[1:]
            if line == b"\n":  # a context line whose single space a mailer stripped
                tag, text = b" ", b"\n"
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt.startswith(b"\\"):  # "\ No newline at end of file"
                text = text[:-1] if text.endswith(b"\n") else text
                self.i += 1
            if tag == b" ":
                old.append(text)
                new.append(text)
            elif tag == b"-":
                old.append(text)
            elif tag == b"+":
                new.append(text)
            else:
                raise self.error(f"{path}: unexpected line in hunk {_show(line)}")
        if len(old) != old_len or len(new) != new_len:
            raise self.error(f"{path}: hunk line counts do not match its header")
        return Hunk(old_start, old_len, new_start, new_len, tuple(old), tuple(new))


def _quoted_end(text: bytes) -> int:
    """Index just past the closing quote of the C-quoted string at the start of ``text``."""
    i = 1
    while i < len(text):
        if text[i:i + 1] == b"\\":
            i += 2
            continue
        if text[i:i + 1] == b'"':
            return i + 1
        i += 1
    return len(text)


def _unquote(name: bytes) -> str:
    """Git's C-style quoting (``"a/caf\\303\\251.py"``) undone; plain names pass through."""
    if name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2:
        name = codecs.escape_decode(name[1:-1])[0]
    return name.decode("utf-8", "surrogateescape")


def _show(line: bytes) -> str:
    text = line.rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= 80 else text[:77] + "...")
