"""Ironic's own power-sync test classes, run against a patched copy of the installed Ironic.

With ``[conductor]bulk_power_sync`` off (its default) the patched Ironic must pass every stock
test class that pins the sync path (shared/research/power-sync.md section 3) and the classes the
series adds; with it forced on, the classes where the flag stays meaningful
(``ManagerDoSyncPowerStateTestCase`` and the conductor utils classes) must still pass. The
SyncPowerStates and ParallelPowerSync classes pin the stock seams, so they run with the flag off
only. Each run is pytest in a subprocess, in a temp directory with its own empty pytest.ini
(this repository's pytest configuration must not apply) and PYTHONPATH set to the copy; outcomes
are counted per class from pytest's JUnit XML and must equal the test methods each class declares
in the copy (read with ast), so a class that silently ran no test fails here; stock classes must
keep at least the tests they have in 39.0.0.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from ironic_scale.patches.series import load_series
from ironic_scale.patches.tree import APPLIED, default_series_dir, inspect, patched_copy

PLUGINS = Path(__file__).parent / "ironic_plugins"
MANAGER = "ironic.tests.unit.conductor.test_manager"
UTILS = "ironic.tests.unit.conductor.test_utils"

# Stock classes with their test counts in Ironic 39.0.0: the patched copy may add tests to them
# (patch 0001 adds one to ParallelPowerSync), never lose one.
STOCK_MANAGER = {
    f"{MANAGER}.ManagerDoSyncPowerStateTestCase": 29,
    f"{MANAGER}.ManagerSyncPowerStatesTestCase": 11,
    f"{MANAGER}.ParallelPowerSyncTestCase": 5,
    f"{MANAGER}.ManagerPowerRecoveryTestCase": 8,
}
STOCK_UTILS = {
    f"{UTILS}.CacheVendorTestCase": 5,
    f"{UTILS}.CacheBootModeTestCase": 8,
    f"{UTILS}.NodeCacheHealthTestCase": 9,
    f"{UTILS}.NodePowerActionTestCase": 33,
    f"{UTILS}.NodeHistoryRecordTestCase": 13,
}
SERIES_CLASSES = [  # the test classes the series adds (checked against the series itself)
    f"{MANAGER}.PowerSyncExcludedTestCase",
    f"{MANAGER}.ManagerBulkSyncPowerStatesTestCase",
    "ironic.tests.unit.drivers.test_base.TestPowerInterface",
]
CHECK = {"BulkPowerSyncIsOnTestCase": 1}  # bulk_on_check.py
_CLASS = re.compile(rb"class (\w+)\(")


def classes_added_by_the_series() -> set[str]:
    """Dotted names of the test classes the series' patches add under ironic/tests/unit/."""
    found = set()
    for patch in load_series(default_series_dir()).patches:
        for diff in patch.diffs:
            if not diff.path.startswith("ironic/tests/unit/") or not diff.path.endswith(".py"):
                continue
            module = diff.path[:-3].replace("/", ".")
            for hunk in diff.hunks:
                added = set(hunk.new) - set(hunk.old)
                found |= {f"{module}.{m[1].decode()}" for line in added if (m := _CLASS.match(line))}
    return found


def declared_tests(site: Path, dotted: str) -> int:
    """How many test methods the class defines in the copy's source (read with ast, not pytest)."""
    module, name = dotted.rsplit(".", 1)
    source = site / (module.replace(".", "/") + ".py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return sum(1 for f in node.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test"))
    raise AssertionError(f"no class {name} in {source}")


def expected(site: Path, stock: dict[str, int], added: Sequence[str] = ()) -> dict[str, int]:
    """Every test each class declares must run and pass; stock classes keep at least 39.0.0's tests."""
    counts = {c: declared_tests(site, c) for c in [*stock, *added]}
    assert all(counts[c] >= n for c, n in stock.items()), counts
    assert all(counts[c] > 0 for c in added), counts
    return counts


@pytest.fixture(scope="module")
def patched(tmp_path_factory) -> Path:
    """The installed Ironic copied and patched with the shipped series: what other parts import."""
    site = patched_copy(tmp_path_factory.mktemp("patched") / "site")
    assert inspect(site, load_series(default_series_dir())).verdict == APPLIED
    return site


def run_ironic_tests(site: Path, run_dir: Path, ids: list[str], plugins: list[str],
                     files: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict, float]:
    """pytest on Ironic's test classes from ``site``; returns the process, per-class outcomes, seconds."""
    run_dir.mkdir()
    (run_dir / "pytest.ini").write_text("[pytest]\n")
    for f in PLUGINS.iterdir():
        if f.suffix == ".py":
            shutil.copy(f, run_dir / f.name)
    junit = run_dir / "junit.xml"
    # rootdir = the copy, so JUnit class names are dotted from "ironic." on.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(run_dir / "pytest.ini"),
           f"--rootdir={site}", f"--junitxml={junit}", "-p", "ironic_scale_pytest_compat"]
    for p in plugins:
        cmd += ["-p", p]
    cmd += [*files, "--pyargs", *ids]
    env = {**os.environ, "PYTHONPATH": str(site)}
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=run_dir, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    outcomes: dict[str, Counter] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
            outcome = kinds.pop() if kinds else "passed"
            name = case.get("classname", "")
            if not name.startswith("ironic."):  # bulk_on_check.py, outside the rootdir: no module part
                name = name.rsplit(".", 1)[-1]
            outcomes.setdefault(name, Counter())[outcome] += 1
    return proc, outcomes, seconds


def node_ids(classes: dict[str, int]) -> list[str]:
    return [f"{name.rsplit('.', 1)[0]}::{name.rsplit('.', 1)[1]}" for name in classes]


def passed(outcomes: dict[str, Counter]) -> dict[str, int]:
    return {name: c["passed"] for name, c in outcomes.items()}


def test_the_series_adds_exactly_the_classes_run_here():
    assert classes_added_by_the_series() == set(SERIES_CLASSES)


def test_stock_and_new_classes_pass_on_the_patched_copy_with_the_flag_off(patched, tmp_path):
    classes = expected(patched, {**STOCK_MANAGER, **STOCK_UTILS}, SERIES_CLASSES)
    proc, outcomes, seconds = run_ironic_tests(patched, tmp_path / "run", node_ids(classes), [])
    print(f"Ironic units, bulk_power_sync off: {sum(classes.values())} tests in {seconds:.1f} s")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert (tmp_path / "run" / "ironic-imported-from").read_text() == str(patched / "ironic" / "__init__.py")
    assert passed(outcomes) == classes, outcomes


def test_meaningful_classes_pass_with_bulk_power_sync_forced_on(patched, tmp_path):
    classes = expected(patched, {f"{MANAGER}.ManagerDoSyncPowerStateTestCase": 29, **STOCK_UTILS})
    proc, outcomes, seconds = run_ironic_tests(patched, tmp_path / "run", node_ids(classes),
                                               ["ironic_scale_bulk_on"], files=("bulk_on_check.py",))
    print(f"Ironic units, bulk_power_sync on: {sum(classes.values()) + 1} tests in {seconds:.1f} s")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert (tmp_path / "run" / "ironic-imported-from").read_text() == str(patched / "ironic" / "__init__.py")
    assert passed(outcomes) == {**classes, **CHECK}, outcomes


def test_the_check_fails_without_the_plugin(patched, tmp_path):
    """The check can fail: without the plugin the option keeps its default (off)."""
    proc, outcomes, _ = run_ironic_tests(patched, tmp_path / "run", [], [], files=("bulk_on_check.py",))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert outcomes == {"BulkPowerSyncIsOnTestCase": Counter(failure=1)}
