"""The record ``revert`` works from, kept inside the patched Ironic package.

``apply`` saves it before it changes a file: the original bytes of every file it will replace
or delete (named by their git blob id, so each is checked when read back), which files and
directories it creates, the series it applied (a copy of the series file and its patches) and
every file's stock and patched id. ``revert`` needs nothing else, so it works after a newer
ironic-scale with a different series is installed, and after an apply killed half way.

It lives in ``ironic/.ironic-scale-patches``: inside the package, so a copied tree carries its
own record and a second Ironic in another venv has its own; a dot name, so it is no importable
package and test discovery does not walk into it. Written as a whole and renamed into place,
so a record is either complete or absent.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ironic_scale.patches.checksum import ABSENT, blob_sha1
from ironic_scale.patches.errors import PatchesError
from ironic_scale.patches.writer import fsync_dir

NAME = ".ironic-scale-patches"
FORMAT = 1


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to site-packages, e.g. ironic/conductor/manager.py
    stock: str  # blob id before apply (ABSENT: apply created it)
    patched: str  # blob id after apply (ABSENT: apply deleted it)


@dataclass(frozen=True)
class Record:
    """What was applied to one tree, and how to undo it."""

    ironic_version: str
    patches: list[dict[str, str]]  # [{"name": ..., "subject": ...}] in series order
    files: list[FileRecord]
    created_dirs: list[str] = field(default_factory=list)  # relative to site-packages, parents first
    applied_at: str = ""
    series_from: str = ""

    def signature(self) -> set[tuple[str, str, str]]:
        return {(f.path, f.stock, f.patched) for f in self.files}


def location(site: Path) -> Path:
    return site / "ironic" / NAME


def load(site: Path) -> Record | None:
    """The tree's record, or None when nothing is recorded."""
    path = location(site) / "state.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise PatchesError(f"the record {path} is unreadable ({e}); restore it or reinstall Ironic") from None
    try:
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, this ironic-scale reads {FORMAT}")
        return Record(
            ironic_version=str(raw["ironic_version"]),
            patches=[{"name": str(p["name"]), "subject": str(p["subject"])} for p in raw["patches"]],
            files=[FileRecord(str(f["path"]), str(f["stock"]), str(f["patched"])) for f in raw["files"]],
            created_dirs=[str(d) for d in raw.get("created_dirs", [])],
            applied_at=str(raw.get("applied_at", "")),
            series_from=str(raw.get("series_from", "")),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise PatchesError(f"the record {path} is not one this ironic-scale can read ({e})") from None


def save(site: Path, record: Record, stock: dict[str, bytes], series_dir: Path,
         series_files: list[str]) -> None:
    """Write the record (replacing a stale one) as a whole: a new directory renamed into place."""
    final = location(site)
    _remove_leftovers(final)
    tmp = Path(tempfile.mkdtemp(prefix=NAME + ".new-", dir=final.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it 0700; the rest of the package is readable by all
        (tmp / "stock").mkdir()
        for blob, data in stock.items():
            _write(tmp / "stock" / blob, data)
        (tmp / "series").mkdir()
        for name in series_files:
            _write(tmp / "series" / name, (series_dir / name).read_bytes())
        body = {"format": FORMAT, **asdict(record)}
        if not body["applied_at"]:
            body["applied_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        _write(tmp / "state.json", json.dumps(body, indent=1).encode() + b"\n")
        fsync_dir(tmp)
        if final.exists():
            remove(site)
        os.rename(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def stock_bytes(site: Path, blob: str) -> bytes:
    """The saved original of a file, checked against its blob id."""
    if blob == ABSENT:
        return b""
    path = location(site) / "stock" / blob
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PatchesError(f"the record lacks the original {path.name}; reinstall Ironic") from None
    if blob_sha1(data) != blob:
        raise PatchesError(f"the saved original {path} is damaged (checksum differs); reinstall Ironic")
    return data


def remove(site: Path) -> None:
    """Delete the record: renamed away first, so a half-deleted record never looks valid."""
    final = location(site)
    if not final.exists():
        return
    doomed = Path(tempfile.mkdtemp(prefix=NAME + ".old-", dir=final.parent))
    os.rename(final, doomed / "x")
    shutil.rmtree(doomed)


def _remove_leftovers(final: Path) -> None:
    """Temp directories of a save or remove that was killed (never the record itself)."""
    for p in final.parent.glob(NAME + ".*"):
        shutil.rmtree(p, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
