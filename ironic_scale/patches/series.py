"""The series directory: the ``series`` file, its patch files, and what they do to each file.

A file touched by several patches has one story: its stock blob id is the pre id of the first
patch touching it, its patched id the post id of the last, and each patch must start where the
one before left it (checked here, so a series that does not chain is refused before any tree is
looked at). Only paths under ``ironic/`` exist in an installed Ironic; the rest (release notes)
live only in Ironic's source tree and are listed but never installed.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

from ironic_scale.patches.checksum import ABSENT
from ironic_scale.patches.diff import FileDiff, parse_diffs
from ironic_scale.patches.errors import SeriesError

INSTALLED_PREFIX = "ironic/"
_VERSION = re.compile(r"#\s*ironic-version:\s*(\S*)\s*$")
_SUBJECT_TAG = re.compile(r"^\[PATCH[^\]]*\]\s*")


@dataclass(frozen=True)
class Patch:
    """One patch file: its name in the series, its subject line, its file diffs."""

    name: str
    subject: str
    diffs: tuple[FileDiff, ...]


@dataclass(frozen=True)
class FilePlan:
    """One file across the whole series: stock and patched blob ids, and the patches in order."""

    path: str
    stock: str  # ABSENT when the series creates the file
    patched: str  # ABSENT when the series deletes it
    steps: tuple[FileDiff, ...]
    mode: int | None  # for a created file

    @property
    def installed(self) -> bool:
        return self.path.startswith(INSTALLED_PREFIX)


@dataclass(frozen=True)
class Series:
    """A loaded, checked series: where it came from, the Ironic version it fits, its patches."""

    directory: Path
    ironic_version: str
    patches: tuple[Patch, ...]

    def plans(self) -> list[FilePlan]:
        """Every file the series touches, in the order the series first touches them."""
        steps: dict[str, list[tuple[str, FileDiff]]] = {}
        for patch in self.patches:
            for d in patch.diffs:
                steps.setdefault(d.path, []).append((patch.name, d))
        return [_plan(path, chain) for path, chain in steps.items()]

    def installed_plans(self) -> list[FilePlan]:
        """The files an installed Ironic has: those under ``ironic/``."""
        return [p for p in self.plans() if p.installed]


def load_series(directory: Path) -> Series:
    """Read and check ``directory/series`` and every patch it names."""
    series_file = directory / "series"
    try:
        text = series_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeriesError(f"no patch series at {directory} (no 'series' file); pass --series DIR") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SeriesError(f"cannot read {series_file}: {e}") from None
    version = None
    names: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if m := _VERSION.match(line):
            if version is not None:
                raise SeriesError(f"{series_file}:{number}: a second '# ironic-version:' line")
            if not m[1]:
                raise SeriesError(f"{series_file}:{number}: '# ironic-version:' names no version")
            version = m[1]
            continue
        if not line or line.startswith("#"):
            continue
        if len(line.split()) > 1:
            raise SeriesError(f"{series_file}:{number}: options after a patch name are not supported: "
                              f"{line!r}")
        if "/" in line or line in (".", ".."):
            raise SeriesError(f"{series_file}:{number}: patch names are plain file names: {line!r}")
        if line in names:
            raise SeriesError(f"{series_file}:{number}: {line} is listed twice")
        names.append(line)
    if version is None:
        raise SeriesError(f"{series_file}: no '# ironic-version: X.Y.Z' line naming the Ironic it fits")
    if not names:
        raise SeriesError(f"{series_file}: lists no patches")
    patches = tuple(_load_patch(directory / name) for name in names)
    series = Series(directory=directory, ironic_version=version, patches=patches)
    series.plans()  # raises if the patches do not chain
    return series


def _load_patch(path: Path) -> Patch:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SeriesError(f"the series names {path.name}, which is not in {path.parent}") from None
    except OSError as e:
        raise SeriesError(f"cannot read {path}: {e}") from None
    diffs = parse_diffs(data, path.name)
    seen = set()
    for d in diffs:
        if d.path in seen:
            raise SeriesError(f"{path.name}: changes {d.path} twice")
        seen.add(d.path)
    return Patch(name=path.name, subject=subject_of(data), diffs=tuple(diffs))


def subject_of(data: bytes) -> str:
    """The commit subject from a format-patch mail header ('' for a bare diff).

    The stdlib mail parser undoes RFC 2047 encoding and line folding, which git uses for
    non-ASCII and long subjects; ``[PATCH n/m]`` is dropped.
    """
    head = data.split(b"\n\n", 1)[0]
    if not head.startswith(b"From ") and b"\nSubject:" not in head and not head.startswith(b"Subject:"):
        return ""
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + b"\n\n", headersonly=True)
    subject = str(msg.get("Subject", "") or "")
    return _SUBJECT_TAG.sub("", " ".join(subject.split()))


def _plan(path: str, chain: list[tuple[str, FileDiff]]) -> FilePlan:
    for (prev_name, prev), (name, d) in zip(chain, chain[1:], strict=False):
        if d.pre != prev.post:
            raise SeriesError(f"the series does not chain: {name} expects {path} at {d.pre[:12]}, "
                              f"but {prev_name} leaves it at {prev.post[:12]}")
    first, last = chain[0][1], chain[-1][1]
    mode = next((d.mode for _, d in chain if d.mode is not None), None)
    return FilePlan(path=path, stock=first.pre, patched=last.post, steps=tuple(d for _, d in chain),
                    mode=mode)


def describe_absent(blob: str) -> str:
    """For messages: 'absent' instead of forty zeros."""
    return "absent" if blob == ABSENT else blob[:12]
