"""check, apply, revert and patched_copy on real copies of the installed Ironic."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ironic_scale.patches import state, tree
from ironic_scale.patches.checksum import ABSENT, file_sha1
from ironic_scale.patches.errors import (
    EXIT_CHANGED,
    EXIT_OK,
    EXIT_OTHER_SERIES,
    EXIT_PARTLY,
    EXIT_VERSION,
    DoesNotFit,
    PatchesError,
    RevertRefused,
)
from ironic_scale.patches.series import load_series
from tests import patch_series as maker
from tests.patch_fixtures import copy_site

TOUCHED = ["ironic/conf/conductor.py", "ironic/conductor/manager.py", "ironic/drivers/base.py",
           "ironic/tests/unit/conductor/test_bulk_power_sync.py", "ironic/tests/unit/scale_extra/__init__.py",
           "ironic/tests/unit/scale_extra/test_nothing.py"]


def listing(site: Path) -> list[str]:
    """Every path under site/ironic except bytecode: catches leftover temp files and directories."""
    return sorted(p.relative_to(site).as_posix() for p in (site / "ironic").rglob("*")
                  if "__pycache__" not in p.parts)


def contents(site: Path) -> dict[str, bytes | None]:
    return {p: (site / p).read_bytes() if (site / p).exists() else None for p in TOUCHED}


def stock_contents() -> dict[str, bytes | None]:
    return contents(maker.SITE)


def test_check_on_stock_copy_says_applies_cleanly(site, series):
    status = tree.inspect(site, series)
    assert (status.verdict, status.code) == (tree.CLEAN, EXIT_OK)
    assert status.message.startswith("not applied: the series applies cleanly")
    assert len(status.stock) == len(TOUCHED)


def test_apply_gives_exactly_what_git_made_and_keeps_a_record(site, series, standard):
    before = listing(site)
    assert tree.apply(site, series) is True
    for path in TOUCHED:
        assert (site / path).read_bytes() == standard.patched_bytes(path), path
    status = tree.inspect(site, series)
    assert (status.verdict, status.code) == (tree.APPLIED, EXIT_OK)
    record = state.load(site)
    assert record is not None and [p["name"] for p in record.patches] == standard.names
    assert record.created_dirs == ["ironic/tests/unit/scale_extra"]
    # The originals are kept by blob id, the series is kept too; nothing else is new.
    saved = {p.name for p in (state.location(site) / "stock").iterdir()}
    assert saved == {file_sha1(maker.SITE / p) for p in TOUCHED if (maker.SITE / p).exists()}
    assert sorted((state.location(site) / "series").iterdir()) == sorted(
        state.location(site) / "series" / n for n in ["series", *standard.names])
    new = set(listing(site)) - set(before)
    assert {p for p in new if ".ironic-scale-patches" not in p} == {
        "ironic/tests/unit/conductor/test_bulk_power_sync.py", "ironic/tests/unit/scale_extra",
        "ironic/tests/unit/scale_extra/__init__.py", "ironic/tests/unit/scale_extra/test_nothing.py"}


def test_release_notes_are_not_installed(site, series, standard):
    assert any(p.path.startswith("releasenotes/") for p in series.plans())
    tree.apply(site, series)
    assert not (site / "releasenotes").exists()
    assert all(not f.path.startswith("releasenotes/") for f in state.load(site).files)


def test_apply_twice_changes_nothing_the_second_time(site, series):
    tree.apply(site, series)
    mtimes = {p: os.stat(site / p).st_mtime_ns for p in TOUCHED}
    lines: list[str] = []
    assert tree.apply(site, series, say=lines.append) is False
    assert lines == [f"already applied: nothing to do in {site / 'ironic'}"]
    assert mtimes == {p: os.stat(site / p).st_mtime_ns for p in TOUCHED}


def test_revert_restores_the_stock_tree_exactly(site, series):
    before = listing(site)
    tree.apply(site, series)
    lines: list[str] = []
    assert tree.revert(site, say=lines.append) is True
    assert contents(site) == stock_contents()
    assert listing(site) == before  # created files and dirs, the record, temp files: all gone
    assert lines[-1].startswith(f"reverted 6 files in {site / 'ironic'} to stock")
    assert tree.inspect(site, series).verdict == tree.CLEAN
    assert tree.revert(site, say=lines.append) is False
    assert lines[-1] == f"nothing to revert: no record of an applied series in {site / 'ironic'}"


def test_revert_works_from_the_record_alone(site, series, tmp_path):
    """A newer ironic-scale may ship another series (or none): revert does not need it."""
    tree.apply(site, series)
    series_dir = Path(series.directory)
    moved = tmp_path / "gone"
    shutil.move(series_dir, moved)
    try:
        tree.revert(site)
    finally:
        shutil.move(moved, series_dir)
    assert contents(site) == stock_contents()


def test_another_series_recorded_does_not_fit_until_reverted(site, series, tmp_path):
    other = load_series(maker.make_series(tmp_path / "other", [maker.Commit("Other", {
        "ironic/drivers/base.py": lambda old: old + "\n# another series\n"})]).series)
    tree.apply(site, other)
    status = tree.inspect(site, series)
    assert status.code == EXIT_OTHER_SERIES
    assert "another series is applied (0001-Other.patch" in status.message
    with pytest.raises(DoesNotFit) as e:
        tree.apply(site, series)
    assert e.value.code == EXIT_OTHER_SERIES
    tree.revert(site)
    assert tree.apply(site, series) is True


def test_version_mismatch_does_not_fit_and_changes_nothing(site, series):
    metadata = next(site.glob("ironic-*.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 39.0.0", "Version: 39.1.0", 1))
    status = tree.inspect(site, series)
    assert status.code == EXIT_VERSION
    assert status.message == f"does not fit: the series is for Ironic 39.0.0, {site} has Ironic 39.1.0"
    with pytest.raises(DoesNotFit) as e:
        tree.apply(site, series)
    assert e.value.code == EXIT_VERSION
    assert contents(site) == stock_contents()
    assert not state.location(site).exists()


def test_no_dist_info_is_an_unknown_version(site, series):
    for info in site.glob("ironic-*.dist-info"):
        shutil.rmtree(info)
    status = tree.inspect(site, series)
    assert status.code == EXIT_VERSION
    assert status.message.startswith(
        f"does not fit: unknown Ironic version (no ironic-*.dist-info in {site})")
    with pytest.raises(DoesNotFit, match="unknown Ironic version"):
        tree.apply(site, series)


def test_files_changed_by_someone_else_are_named_and_left_alone(site, series):
    for path in ("ironic/conductor/manager.py", "ironic/drivers/base.py"):
        with open(site / path, "a") as f:
            f.write("# local hotfix\n")
    before = contents(site)
    status = tree.inspect(site, series)
    assert status.code == EXIT_CHANGED
    assert status.message == ("does not fit: changed by someone else (neither stock nor patched): "
                              "ironic/conductor/manager.py, ironic/drivers/base.py")
    with pytest.raises(DoesNotFit, match="changed by someone else") as e:
        tree.apply(site, series)
    assert e.value.code == EXIT_CHANGED
    assert contents(site) == before
    assert not state.location(site).exists()


def test_a_created_file_that_already_exists_with_other_content_is_someone_elses(site, series):
    target = site / "ironic/tests/unit/conductor/test_bulk_power_sync.py"
    target.write_text("# mine\n")
    status = tree.inspect(site, series)
    assert status.code == EXIT_CHANGED and "test_bulk_power_sync.py" in status.message


def test_partly_applied_tree_does_not_fit_and_revert_repairs_it(site, series):
    tree.apply(site, series)
    shutil.copyfile(maker.SITE / "ironic/drivers/base.py", site / "ironic/drivers/base.py")
    status = tree.inspect(site, series)
    assert status.code == EXIT_PARTLY
    assert "partly applied (5 of 6 files patched" in status.message
    assert "run 'ironic-scale patches revert'" in status.message
    with pytest.raises(DoesNotFit) as e:
        tree.apply(site, series)
    assert e.value.code == EXIT_PARTLY
    tree.revert(site)
    assert contents(site) == stock_contents()


def test_revert_refuses_when_patched_files_were_changed_after_apply(site, series):
    tree.apply(site, series)
    with open(site / "ironic/conf/conductor.py", "a") as f:
        f.write("# edited after apply\n")
    before = contents(site)
    with pytest.raises(RevertRefused, match=r"changed since apply: ironic/conf/conductor\.py \(nothing was"):
        tree.revert(site)
    assert contents(site) == before
    assert state.load(site) is not None


def test_stale_record_after_a_reinstall_is_dropped(site, series):
    tree.apply(site, series)
    for path in TOUCHED:  # what `pip install --force-reinstall ironic==39.0.0` leaves behind
        if (maker.SITE / path).exists():
            shutil.copyfile(maker.SITE / path, site / path)
        else:
            (site / path).unlink()
    assert tree.inspect(site, series).verdict == tree.CLEAN
    lines: list[str] = []
    assert tree.revert(site, say=lines.append) is False
    assert lines[0].startswith("nothing to revert: the files are stock; removed the leftover record")
    assert not state.location(site).exists()


class FailingReplace:
    """os.replace that raises ``exc`` on call number ``at`` (a full disk, an I/O error, Ctrl-C)."""

    def __init__(self, at: int, exc: BaseException) -> None:
        self.at, self.exc, self.calls = at, exc, 0
        self.real = os.replace

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls == self.at:
            raise self.exc
        return self.real(src, dst)


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failure_midway_rolls_every_file_back(site, series, monkeypatch, exc):
    before = listing(site)
    failing = FailingReplace(4, exc)
    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(type(exc)):
        tree.apply(site, series)
    monkeypatch.undo()
    assert failing.calls >= 4  # three files had been replaced when it failed
    assert contents(site) == stock_contents()
    assert listing(site) == before  # no temp file, no new directory, no record
    assert tree.inspect(site, series).verdict == tree.CLEAN
    tree.apply(site, series)
    assert tree.inspect(site, series).verdict == tree.APPLIED


KILL_MIDWAY = """
import os, signal, sys
from pathlib import Path
from ironic_scale.patches import tree
from ironic_scale.patches.series import load_series
real, calls = os.replace, []
def replace(src, dst):
    real(src, dst)
    calls.append(dst)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
tree.apply(Path(sys.argv[1]), load_series(Path(sys.argv[2])))
"""


def test_apply_killed_midway_is_seen_as_partly_applied_and_revert_recovers(site, series):
    proc = subprocess.run([sys.executable, "-c", KILL_MIDWAY, str(site), str(series.directory)],
                          cwd=Path(__file__).parents[3], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    status = tree.inspect(site, series)
    assert status.code == EXIT_PARTLY, status.message
    assert "run 'ironic-scale patches revert'" in status.message
    tree.revert(site)
    assert contents(site) == stock_contents()
    assert tree.inspect(site, series).verdict == tree.CLEAN


def test_broken_series_is_refused_before_anything_is_written(site, tmp_path, standard):
    broken = tmp_path / "broken"
    shutil.copytree(standard.series, broken)
    patch = broken / standard.names[1]
    text = patch.read_text()
    assert "+        # ironic-scale: bulk path goes here\n" in text
    patch.write_text(text.replace("+        # ironic-scale: bulk path goes here\n",
                                  "+        # ironic-scale: bulk path goes HERE\n"))
    before = listing(site)
    with pytest.raises(PatchesError, match=r"the series is broken: ironic/conductor/manager\.py"):
        tree.apply(site, load_series(broken))
    assert listing(site) == before
    assert contents(site) == stock_contents()


def test_deleting_a_file_and_reverting_it(site, tmp_path):
    victim = "ironic/tests/unit/conductor/test_notification_utils.py"
    made = maker.make_series(tmp_path / "del", [maker.Commit("Drop a test module", {victim: maker.delete})])
    series = load_series(made.series)
    assert series.installed_plans()[0].patched == ABSENT
    tree.apply(site, series)
    assert not (site / victim).exists()
    assert tree.inspect(site, series).verdict == tree.APPLIED
    tree.revert(site)
    assert (site / victim).read_bytes() == (maker.SITE / victim).read_bytes()


def test_the_patched_module_is_what_python_imports(site, tmp_path):
    """Same size, same mtime second: only deleting the stale bytecode makes Python see the patch."""
    path = "ironic/conf/conductor.py"
    made = maker.make_series(tmp_path / "s", [maker.Commit("Sync every 121 s", {
        path: maker.replace("'sync_power_state_interval',\n               default=120,",
                            "'sync_power_state_interval',\n               default=121,")})])
    source = site / path
    py_compile.compile(str(source), doraise=True)
    stale = next((source.parent / "__pycache__").glob("conductor.*.pyc"))
    stale_copy = stale.read_bytes()
    stat = source.stat()
    tree.apply(site, load_series(made.series))
    assert source.stat().st_size == stat.st_size
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not stale.exists()
    probe = ("from ironic.conf import conductor;"
             "print([o.default for o in conductor.opts if o.name == 'sync_power_state_interval'][0])")
    env = {**os.environ, "PYTHONPATH": str(site)}

    def imported_default() -> str:
        return subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    assert imported_default() == "121"
    # Control: with the stale bytecode put back, Python really would run the old code.
    for pyc in stale.parent.glob("conductor.*.pyc"):
        pyc.unlink()
    stale.write_bytes(stale_copy)
    assert imported_default() == "120"


def test_patched_copy_makes_a_patched_importable_ironic_beside_the_installed_one(tmp_path, series):
    dest = tmp_path / "copy"
    lines: list[str] = []
    assert tree.patched_copy(dest, maker.SITE, series=series, say=lines.append) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["ironic", "ironic-39.0.0.dist-info"]
    assert not list(dest.rglob("__pycache__"))
    assert tree.inspect(dest, series).verdict == tree.APPLIED
    assert tree.inspect(maker.SITE, series).verdict == tree.CLEAN  # the venv's own Ironic is untouched
    assert lines[-1] == f"patched copy ready: PYTHONPATH={dest} imports it"
    assert not any(".ironic-scale-copy-" in line for line in lines)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
                           "ironic.tests.unit.conductor.test_bulk_power_sync"],
                          env={**os.environ, "PYTHONPATH": str(dest)}, cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr


def test_patched_copy_refuses_a_used_destination_and_a_tree_that_does_not_fit(tmp_path, series):
    dest = tmp_path / "copy"
    (dest / "ironic").mkdir(parents=True)
    with pytest.raises(PatchesError, match="already exists; copy into an empty directory"):
        tree.patched_copy(dest, maker.SITE, series=series)
    odd = copy_site(tmp_path / "odd")
    with open(odd / "ironic/drivers/base.py", "a") as f:
        f.write("# local\n")
    dest2 = tmp_path / "copy2"
    with pytest.raises(DoesNotFit, match="changed by someone else"):
        tree.patched_copy(dest2, odd, series=series)
    assert not dest2.exists() or list(dest2.iterdir()) == []


def test_the_shipped_series_applies_and_reverts_exactly(site):
    """The real series (patches/ at the top of the repository) on a copy of the installed Ironic."""
    series = load_series(tree.default_series_dir())
    paths = [p.path for p in series.installed_plans()]
    stock = {p: (site / p).read_bytes() if (site / p).exists() else None for p in paths}
    before = listing(site)
    assert tree.inspect(site, series).verdict == tree.CLEAN
    assert tree.apply(site, series) is True
    assert tree.inspect(site, series).verdict == tree.APPLIED
    assert all(file_sha1(site / p.path) == p.patched for p in series.installed_plans())
    assert tree.revert(site) is True
    assert {p: (site / p).read_bytes() if (site / p).exists() else None for p in paths} == stock
    assert listing(site) == before
