"""Check, apply and revert the series on an installed Ironic, and make patched copies of it.

Every decision is made from git blob ids of the installed files against the series' ``index``
lines: a file is stock, patched, or "changed by someone else". ``apply`` works everything out in
memory first (each result must hash to the series' post id) and checks the tree is writable
before it saves the record and changes anything; the changes then land all or none
(``writer``). Stale bytecode of changed modules is deleted, so the next import compiles what
is on disk even when a patched file has the old one's size and mtime second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ironic_scale.patches import state
from ironic_scale.patches.checksum import ABSENT, blob_sha1, file_sha1
from ironic_scale.patches.diff import apply_hunks
from ironic_scale.patches.errors import (
    EXIT_CHANGED,
    EXIT_OK,
    EXIT_OTHER_SERIES,
    EXIT_PARTLY,
    EXIT_VERSION,
    DoesNotFit,
    NotWritable,
    PatchesError,
    RevertRefused,
)
from ironic_scale.patches.series import FilePlan, Series, load_series
from ironic_scale.patches.sitepkgs import default_site_packages, dist_infos, ironic_dir, ironic_version
from ironic_scale.patches.writer import Transaction, probe_writable

APPLIED = "applied"
CLEAN = "not applied"
NOT_FIT = "does not fit"

Say = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


def default_series_dir() -> Path:
    """The series this ironic-scale ships.

    ``ironic_scale/patches/data`` is a symlink to the repository's top-level ``patches/`` in a
    checkout and an editable install; building a wheel copies the files behind it (package-data
    ``data/*`` in pyproject.toml), so one path works in all three.
    """
    return Path(__file__).resolve().parent / "data"


@dataclass
class Status:
    """The answer of ``check``: verdict, exit code, a one-line message, and the files behind it."""

    site: Path
    verdict: str  # APPLIED, CLEAN or NOT_FIT
    code: int
    message: str
    changed: list[str] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)
    stock: list[str] = field(default_factory=list)
    record: state.Record | None = None
    notes: list[str] = field(default_factory=list)


def inspect(site: Path, series: Series) -> Status:
    """Where ``site``'s Ironic stands against ``series``; reads files only, changes nothing."""
    ironic_dir(site)
    plans = series.installed_plans()
    version = ironic_version(site)
    if version is None:
        infos = dist_infos(site)
        why = (f"no ironic-*.dist-info in {site}" if not infos else
               f"{', '.join(p.name for p in infos)} in {site} do not name one version")
        return Status(site, NOT_FIT, EXIT_VERSION, f"does not fit: unknown Ironic version ({why}); "
                      f"the series is for Ironic {series.ironic_version}")
    if version != series.ironic_version:
        return Status(site, NOT_FIT, EXIT_VERSION, f"does not fit: the series is for Ironic "
                      f"{series.ironic_version}, {site} has Ironic {version}")
    record = state.load(site)
    notes = []
    if record is not None and record.signature() != {(p.path, p.stock, p.patched) for p in plans}:
        live = [f.path for f in record.files if file_sha1(site / f.path) != f.stock]
        if live:
            names = ", ".join(p["name"] for p in record.patches)
            return Status(site, NOT_FIT, EXIT_OTHER_SERIES, f"does not fit: another series is applied "
                          f"({names}; {record.applied_at}); run 'ironic-scale patches revert' first",
                          record=record)
        notes.append(f"a leftover record of another series ({state.location(site)}) will be replaced")
        record = None
    current = {p.path: file_sha1(site / p.path) for p in plans}
    changed = [p.path for p in plans if current[p.path] not in (p.stock, p.patched)]
    patched = [p.path for p in plans if current[p.path] == p.patched != p.stock]
    stock = [p.path for p in plans if current[p.path] == p.stock != p.patched]
    status = Status(site, NOT_FIT, EXIT_OK, "", changed, patched, stock, record, notes)
    if changed:
        status.code = EXIT_CHANGED
        status.message = (f"does not fit: changed by someone else (neither stock nor patched): "
                          f"{', '.join(changed)}")
    elif patched and stock:
        status.code = EXIT_PARTLY
        fix = ("run 'ironic-scale patches revert' to restore the stock files" if record is not None else
               f"no record to revert from: reinstall Ironic {version}")
        status.message = (f"does not fit: partly applied ({len(patched)} of {len(patched) + len(stock)} "
                          f"files patched, e.g. {patched[0]}; an interrupted apply?); {fix}")
    elif patched or not stock:
        status.verdict = APPLIED
        status.message = (f"applied: the series ({len(series.patches)} patches) is applied to "
                          f"{site / 'ironic'}")
        if record is None:
            status.notes.append(f"no record in {state.location(site)}: revert is not possible here")
    else:
        status.verdict = CLEAN
        status.message = (f"not applied: the series applies cleanly to {site / 'ironic'} "
                          f"(Ironic {version}, {len(series.patches)} patches, {len(plans)} files)")
    return status


def apply(site: Path, series: Series, say: Say = _quiet) -> bool:
    """Apply ``series`` to ``site`` all or nothing; False if it was already applied."""
    status = inspect(site, series)
    for note in status.notes:
        say(f"note: {note}")
    if status.verdict == APPLIED:
        say(f"already applied: nothing to do in {site / 'ironic'}")
        return False
    if status.verdict != CLEAN:
        raise DoesNotFit(status.message, status.code)
    plans = series.installed_plans()
    tx = Transaction()
    originals: dict[str, bytes] = {}
    for plan in plans:
        target = site / plan.path
        old = None if plan.stock == ABSENT else target.read_bytes()
        new = _patched_bytes(plan, old)
        if plan.patched == ABSENT:
            assert old is not None
            tx.delete(target, old)
        else:
            tx.write(target, old, new, plan.mode if old is None else None)
        if old is not None:
            originals[plan.stock] = old
    created_dirs = _missing_dirs(site, [p.path for p in plans if p.stock == ABSENT])
    _check_writable(site, [p.path for p in plans])
    record = state.Record(
        ironic_version=series.ironic_version,
        patches=[{"name": p.name, "subject": p.subject} for p in series.patches],
        files=[state.FileRecord(p.path, p.stock, p.patched) for p in plans],
        created_dirs=created_dirs, series_from=str(series.directory))
    state.save(site, record, originals, series.directory, ["series", *(p.name for p in series.patches)])
    try:
        tx.commit()
    except BaseException:
        state.remove(site)
        raise
    removed = remove_bytecode(site, [p.path for p in plans])
    for plan in plans:
        verb = "created" if plan.stock == ABSENT else "deleted" if plan.patched == ABSENT else "patched"
        say(f"{verb} {plan.path}")
    _verify(site, plans, "patched")
    say(f"applied {len(series.patches)} patches to {len(plans)} files in {site / 'ironic'} "
        f"({removed} stale bytecode files removed); record for revert: {state.location(site)}")
    return True


def revert(site: Path, say: Say = _quiet) -> bool:
    """Restore the stock files from the tree's record; False if nothing was applied."""
    ironic_dir(site)
    record = state.load(site)
    if record is None:
        say(f"nothing to revert: no record of an applied series in {site / 'ironic'}")
        return False
    current = {f.path: file_sha1(site / f.path) for f in record.files}
    changed = [f.path for f in record.files if current[f.path] not in (f.stock, f.patched)]
    if changed:
        raise RevertRefused(f"refusing to revert: changed since apply: {', '.join(changed)} (nothing "
                            f"was changed; undo those edits, or reinstall Ironic and delete "
                            f"{state.location(site)})")
    todo = [f for f in record.files if current[f.path] == f.patched != f.stock]
    if not todo:
        state.remove(site)
        say(f"nothing to revert: the files are stock; removed the leftover record {state.location(site)}")
        return False
    tx = Transaction()
    for f in todo:
        target = site / f.path
        now = None if f.patched == ABSENT else target.read_bytes()
        if f.stock == ABSENT:
            assert now is not None
            tx.delete(target, now)
        else:
            tx.write(target, now, state.stock_bytes(site, f.stock))
    _check_writable(site, [f.path for f in todo])
    tx.commit()
    removed = remove_bytecode(site, [f.path for f in todo])
    for d in reversed(record.created_dirs):
        try:
            (site / d).rmdir()
        except OSError:
            pass  # not empty (someone put files there) or already gone: leave it
    for f in todo:
        verb = "deleted" if f.stock == ABSENT else "restored"
        say(f"{verb} {f.path}")
    bad = [f.path for f in record.files if file_sha1(site / f.path) != f.stock]
    if bad:
        raise PatchesError(f"after revert, not stock: {', '.join(bad)}; the record is kept")
    state.remove(site)
    names = ", ".join(p["name"] for p in record.patches)
    say(f"reverted {len(todo)} files in {site / 'ironic'} to stock ({removed} stale bytecode files "
        f"removed; series was {names})")
    return True


def patched_copy(dest: Path, site_packages: Path | None = None, *, series: Series | None = None,
                 say: Say = _quiet) -> Path:
    """Copy the installed Ironic into ``dest`` and apply the series there; returns ``dest``.

    Copies ``ironic/`` (without ``__pycache__``) and its ``ironic-*.dist-info``, so the copy
    says which version it is. Put ``dest`` first on PYTHONPATH to import the patched Ironic.
    All or nothing: the copy is built in a temp directory inside ``dest`` and renamed into place.
    """
    site = Path(site_packages) if site_packages is not None else default_site_packages()
    series = series if series is not None else load_series(default_series_dir())
    dest = Path(dest)
    status = inspect(site, series)
    if status.verdict == NOT_FIT:
        raise DoesNotFit(status.message, status.code)
    infos = dist_infos(site)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ["ironic", *(p.name for p in infos)]:
        if (dest / name).exists():
            raise PatchesError(f"{dest / name} already exists; copy into an empty directory")
    staging = Path(tempfile.mkdtemp(prefix=".ironic-scale-copy-", dir=dest))
    try:
        say(f"copying {site / 'ironic'} to {dest}")
        shutil.copytree(site / "ironic", staging / "ironic", ignore=shutil.ignore_patterns("__pycache__"))
        for info in infos:
            shutil.copytree(info, staging / info.name)
        apply(staging, series, lambda line: say(line.replace(str(staging), str(dest))))
        for entry in staging.iterdir():
            os.rename(entry, dest / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"patched copy ready: PYTHONPATH={dest} imports it")
    return dest


def remove_bytecode(site: Path, paths: list[str]) -> int:
    """Delete ``__pycache__`` entries of these modules; returns how many were removed."""
    removed = 0
    for rel in paths:
        if not rel.endswith(".py"):
            continue
        source = site / rel
        cache = source.parent / "__pycache__"
        if not cache.is_dir():
            continue
        prefix = source.stem + "."
        for pyc in cache.iterdir():
            if pyc.name.startswith(prefix) and pyc.name.endswith(".pyc"):
                pyc.unlink(missing_ok=True)
                removed += 1
    return removed


def _patched_bytes(plan: FilePlan, old: bytes | None) -> bytes:
    """The file after every patch that touches it, each step checked against its post id."""
    data = old if old is not None else b""
    for step in plan.steps:
        data = apply_hunks(data, step.hunks, plan.path)
        expected_empty = step.post == ABSENT
        if (data != b"") if expected_empty else (blob_sha1(data) != step.post):
            raise PatchesError(f"the series is broken: {plan.path} does not come out as {step.post[:12]} "
                               "(nothing was changed)")
    return data


def _missing_dirs(site: Path, paths: list[str]) -> list[str]:
    """Directories apply will create for new files, parents first, relative to ``site``."""
    missing: list[str] = []
    for rel in paths:
        d = (site / rel).parent
        chain = []
        while not d.exists():
            chain.append(d.relative_to(site).as_posix())
            d = d.parent
        missing.extend(x for x in reversed(chain) if x not in missing)
    return missing


def _check_writable(site: Path, paths: list[str]) -> None:
    """Every directory that will be written, probed by creating a file in it, before any change."""
    dirs = {site / "ironic"} | {(site / p).parent for p in paths}
    dirs |= {(site / p).parent / "__pycache__" for p in paths if ((site / p).parent / "__pycache__").is_dir()}
    for d in sorted(dirs):
        try:
            probe_writable(d)
        except OSError as e:
            raise NotWritable(f"cannot write to {d} ({e.strerror or e}); nothing was changed: run as "
                              "the owner of this Ironic installation") from None


def _verify(site: Path, plans: list[FilePlan], which: str) -> None:
    bad = [p.path for p in plans if file_sha1(site / p.path) != getattr(p, which)]
    if bad:
        raise PatchesError(f"after apply, not {which}: {', '.join(bad)}")
