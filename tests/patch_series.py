"""Real patch series for the tests, made the way the project's own is made.

A temporary git repository whose root stands for Ironic's source root holds the stock
files copied from the installed Ironic; each commit edits them, and ``git format-patch
--full-index`` writes the series. git is needed here, in the tests only: the tool itself
never runs it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ironic_scale.patches.sitepkgs import default_site_packages

SITE = default_site_packages()

Edit = Callable[[str | None], str | None]  # old text (None: absent) -> new text (None: delete)


@dataclass
class Commit:
    subject: str
    edits: dict[str, Edit]
    body: str = ""


@dataclass
class Made:
    """A series directory and the repository it came from (its HEAD is the patched tree)."""

    series: Path
    repo: Path
    names: list[str] = field(default_factory=list)

    def patched_bytes(self, path: str) -> bytes | None:
        p = self.repo / path
        return p.read_bytes() if p.exists() else None


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def make_series(work: Path, commits: list[Commit], version: str = "39.0.0", site: Path = SITE) -> Made:
    """Commit each edit on top of the stock files and format-patch the commits into ``work/series``."""
    repo = work / "src"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.invalid")
    git(repo, "config", "user.name", "Dev")
    git(repo, "config", "core.autocrlf", "false")
    touched = {path for c in commits for path in c.edits}
    for path in touched:
        if (site / path).exists():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site / path, repo / path)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "stock Ironic")
    for c in commits:
        for path, edit in c.edits.items():
            target = repo / path
            old = target.read_text(encoding="utf-8") if target.exists() else None
            new = edit(old)
            if new is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(new.encode("utf-8"))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", c.subject + ("\n\n" + c.body if c.body else ""))
    out = work / "series"
    git(repo, "format-patch", "-q", "--full-index", "--no-renames", "-o", str(out), f"HEAD~{len(commits)}")
    names = sorted(p.name for p in out.glob("*.patch"))
    (out / "series").write_text(f"# Test series\n# ironic-version: {version}\n\n" + "\n".join(names) + "\n")
    return Made(series=out, repo=repo, names=names)


def insert_after(marker: str, text: str) -> Edit:
    """An edit that puts ``text`` right after the first line containing ``marker``."""
    def edit(old: str | None) -> str:
        assert old is not None
        i = old.index(marker)
        j = old.index("\n", i) + 1
        return old[:j] + text + old[j:]
    return edit


def replace(old_text: str, new_text: str) -> Edit:
    def edit(old: str | None) -> str:
        assert old is not None and old_text in old, old_text
        return old.replace(old_text, new_text, 1)
    return edit


def create(text: str) -> Edit:
    def edit(old: str | None) -> str:
        assert old is None
        return text
    return edit


def delete(old: str | None) -> None:
    assert old is not None
    return None


BULK_TEST = '''"""Made by the ironic-scale tests: proves the patched option is what gets imported."""

from ironic.conf import conductor


def test_bulk_power_sync_option_exists():
    assert "bulk_power_sync" in [o.name for o in conductor.opts]
'''

# Like the real series: an option (plus release note), the manager, the driver base, new tests;
# manager.py is changed by two patches, and a new test directory is created.
STANDARD = [
    Commit("Add [conductor]bulk_power_sync", {
        "ironic/conf/conductor.py": insert_after(
            "opts = [", "    cfg.BoolOpt('bulk_power_sync', default=False,\n"
                        "                help=_('Poll unchanged nodes in bulk.')),\n"),
        "releasenotes/notes/bulk-power-sync-0123456789abcdef.yaml": create(
            "---\nfeatures:\n  - |\n    Adds ``[conductor]bulk_power_sync``.\n"),
    }, body="Default off."),
    Commit("Bulk power sync in the conductor and the driver base", {
        "ironic/conductor/manager.py": insert_after(
            "def _sync_power_states(self, context):", "        # ironic-scale: bulk path goes here\n"),
        "ironic/drivers/base.py": lambda old: old + "\n\n# ironic-scale: bulk power-state hook\n",
    }),
    Commit("Tests for bulk power sync", {
        "ironic/tests/unit/conductor/test_bulk_power_sync.py": create(BULK_TEST),
        "ironic/tests/unit/scale_extra/__init__.py": create(""),
        "ironic/tests/unit/scale_extra/test_nothing.py": create("def test_nothing():\n    pass\n"),
        "ironic/conductor/manager.py": insert_after(
            "ironic-scale: bulk path goes here", "        # ironic-scale: second patch, same file\n"),
    }),
]
