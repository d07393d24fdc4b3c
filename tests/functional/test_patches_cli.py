"""``ironic-scale patches`` as an operator runs it: output, exit codes, a read-only tree, the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from ironic_scale.patches import errors, state
from tests import patch_series as maker
from tests.patch_fixtures import copy_site

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, user: int | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ironic_scale.cli", "patches", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("ironic-scale patches: error: ")
    return lines[0]


def test_list_shows_names_subjects_files_and_that_release_notes_are_not_installed(standard):
    res = cli("list", "--series", str(standard.series))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"series {standard.series} (for Ironic 39.0.0): 3 patches"
    assert lines[1] == f"{standard.names[0]}: Add [conductor]bulk_power_sync"
    assert "    changes ironic/conf/conductor.py" in lines
    assert ("    creates releasenotes/notes/bulk-power-sync-0123456789abcdef.yaml  (release note: only in "
            "Ironic's source tree, not installed)") in lines
    assert "    creates ironic/tests/unit/scale_extra/__init__.py" in lines


def test_check_apply_revert_and_their_exit_codes(standard, site):
    s = ("--series", str(standard.series), "--site-packages", str(site))
    res = cli("check", *s)
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout.startswith(f"not applied: the series applies cleanly to {site / 'ironic'}")

    res = cli("apply", *s)
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    out = res.stdout.splitlines()
    assert "patched ironic/conductor/manager.py" in out
    assert "created ironic/tests/unit/scale_extra/__init__.py" in out
    assert out[-1].startswith(f"applied 3 patches to 6 files in {site / 'ironic'}")

    res = cli("check", *s)
    assert (res.returncode, res.stdout.strip()) == (
        0, f"applied: the series (3 patches) is applied to {site / 'ironic'}")
    res = cli("apply", *s)
    assert (res.returncode, res.stdout.strip()) == (0, f"already applied: nothing to do in {site / 'ironic'}")

    # Partly applied: exit 5, for check and for apply.
    shutil.copyfile(maker.SITE / "ironic/drivers/base.py", site / "ironic/drivers/base.py")
    res = cli("check", *s)
    assert res.returncode == errors.EXIT_PARTLY and res.stdout.startswith("does not fit: partly applied")
    res = cli("apply", *s)
    assert res.returncode == errors.EXIT_PARTLY and "partly applied" in one_error_line(res)

    res = cli("revert", "--site-packages", str(site))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1].startswith(f"reverted 5 files in {site / 'ironic'} to stock")
    res = cli("revert", "--site-packages", str(site))
    assert (res.returncode, res.stdout.strip()) == (
        0, f"nothing to revert: no record of an applied series in {site / 'ironic'}")
    assert cli("check", *s).returncode == 0


def test_does_not_fit_exit_codes(standard, site, tmp_path):
    s = ("--series", str(standard.series), "--site-packages", str(site))
    with open(site / "ironic/conductor/manager.py", "a") as f:
        f.write("# hotfix\n")
    res = cli("check", *s)
    assert res.returncode == errors.EXIT_CHANGED
    assert res.stdout.strip() == ("does not fit: changed by someone else (neither stock nor patched): "
                                  "ironic/conductor/manager.py")
    res = cli("apply", *s)
    assert res.returncode == errors.EXIT_CHANGED
    assert one_error_line(res).endswith("changed by someone else (neither stock nor patched): "
                                        "ironic/conductor/manager.py")

    metadata = next(site.glob("ironic-*.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 39.0.0", "Version: 40.0.0", 1))
    res = cli("check", *s)
    assert res.returncode == errors.EXIT_VERSION
    assert res.stdout.strip() == f"does not fit: the series is for Ironic 39.0.0, {site} has Ironic 40.0.0"
    shutil.rmtree(metadata.parent)
    res = cli("apply", *s)
    assert res.returncode == errors.EXIT_VERSION and "unknown Ironic version" in one_error_line(res)


def test_another_series_in_force_is_exit_6_and_revert_is_refused_after_edits(standard, site, tmp_path):
    other = maker.make_series(tmp_path / "o", [maker.Commit("Other", {
        "ironic/drivers/base.py": lambda old: old + "# other\n"})])
    assert cli("apply", "--series", str(other.series), "--site-packages", str(site)).returncode == 0
    res = cli("check", "--series", str(standard.series), "--site-packages", str(site))
    assert res.returncode == errors.EXIT_OTHER_SERIES and "another series is applied" in res.stdout
    with open(site / "ironic/drivers/base.py", "a") as f:
        f.write("# edited after apply\n")
    res = cli("revert", "--site-packages", str(site))
    assert res.returncode == errors.EXIT_ERROR
    assert "refusing to revert: changed since apply: ironic/drivers/base.py" in one_error_line(res)


def test_bad_input_is_one_line_exit_2(tmp_path, site):
    res = cli("list", "--series", str(tmp_path))
    assert res.returncode == 2
    assert one_error_line(res) == (f"ironic-scale patches: error: no patch series at {tmp_path} "
                                   "(no 'series' file); pass --series DIR")
    res = cli("check", "--series", str(tmp_path), "--site-packages", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "no patch series" in one_error_line(res)


def test_help_documents_the_exit_codes():
    res = cli("check", "--help")
    assert res.returncode == 0
    for code in (0, 2, 3, 4, 5, 6):
        assert f"\n  {code}  " in res.stdout


@pytest.fixture
def shared_tmp():
    """A temp dir other users can enter (pytest's own is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="ironic-scale-ro-"))
    d.chmod(0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(d)


def test_read_only_tree_is_refused_before_anything_changes(standard, shared_tmp):
    """As root, run as nobody: root ignores permission bits, nobody cannot write a root-owned tree."""
    site = copy_site(shared_tmp / "site")
    series_dir = shared_tmp / "series"
    shutil.copytree(standard.series, series_dir)
    for p in [site, *site.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555)
    user = 65534 if os.geteuid() == 0 else None
    if user is not None and not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing")
    s = ("--series", str(series_dir), "--site-packages", str(site))
    res = cli("check", *s, user=user, cwd=shared_tmp)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("not applied: the series applies cleanly")
    res = cli("apply", *s, user=user, cwd=shared_tmp)
    assert res.returncode == 2
    line = one_error_line(res)
    assert line.startswith(f"ironic-scale patches: error: cannot write to {site}/ironic")
    assert "(Permission denied); nothing was changed" in line
    assert not list(site.rglob(".ironic-scale-*"))
    assert (site / "ironic/conductor/manager.py").read_bytes() == (
        maker.SITE / "ironic/conductor/manager.py").read_bytes()


def test_copy_makes_a_patched_ironic_that_python_imports_first(standard, tmp_path):
    dest = tmp_path / "patched"
    res = cli("copy", str(dest), "--series", str(standard.series), "--site-packages", str(maker.SITE))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == f"patched copy ready: PYTHONPATH={dest} imports it"
    probe = ("import ironic.conf.conductor as c; print(c.__file__); "
             "print('bulk_power_sync' in [o.name for o in c.opts])")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(dest)},
                         cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert out == [str(dest / "ironic/conf/conductor.py"), "True"]
    res = cli("copy", str(dest), "--series", str(standard.series), "--site-packages", str(maker.SITE))
    assert res.returncode == 2 and "already exists; copy into an empty directory" in one_error_line(res)


def test_default_site_packages_is_the_ironic_this_python_imports(standard):
    res = cli("check", "--series", str(standard.series))
    assert res.returncode == 0, res.stderr  # read-only: check never writes
    assert f"applies cleanly to {maker.SITE / 'ironic'}" in res.stdout


def test_default_series_is_the_one_in_the_repository():
    res = cli("list")
    if (REPO / "patches" / "series").exists():
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"series {REPO / 'ironic_scale/patches/data'} (for Ironic ")
    else:  # before the series lands on main
        assert res.returncode == 2 and "no patch series at" in one_error_line(res)


def _build_tree(tmp_path: Path, standard: maker.Made) -> tuple[Path, list[str]]:
    """A copy of what a wheel is built from: the package, pyproject, README and the series."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "ironic_scale", src / "ironic_scale", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert (src / "ironic_scale/patches/data").is_symlink()
    if (REPO / "patches" / "series").exists():
        shutil.copytree(REPO / "patches", src / "patches")
    else:  # before the real series lands: the test series stands in
        shutil.copytree(standard.series, src / "patches")
    return src, sorted(p.name for p in (src / "patches").iterdir())


def test_the_wheel_ships_the_series_and_finds_it_when_installed(standard, tmp_path):
    src, files = _build_tree(tmp_path, standard)
    wheels = tmp_path / "whl"
    # Build isolation, as an operator's build does (this venv's own setuptools is older than
    # pyproject's license field needs).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                    "-w", str(wheels), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("ironic_scale-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("ironic_scale/patches/data/"))
    assert shipped == files
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    assert not (target / "ironic_scale/patches/data").is_symlink()
    probe = ("import ironic_scale.patches.tree as t, ironic_scale.patches.series as s; "
             "print(t.__file__); print(len(s.load_series(t.default_series_dir()).patches))")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(target)},
                         cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(target))
    assert int(out[1]) == len([f for f in files if f.endswith(".patch")])


def test_state_dir_is_not_importable_and_is_readable(standard, site):
    assert cli("apply", "--series", str(standard.series), "--site-packages", str(site)).returncode == 0
    loc = state.location(site)
    assert loc.name.startswith(".") and (loc.stat().st_mode & 0o755) == 0o755
