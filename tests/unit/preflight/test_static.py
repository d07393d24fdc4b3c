"""The parts that read files: the patch series against a real copy of the installed Ironic, and
``ironic-scale check`` on real config files; and both "not available" without Ironic."""

from __future__ import annotations

import subprocess
import sys

from ironic_scale.preflight import static
from ironic_scale.preflight.model import FAILED, NOT_AVAILABLE, OK, SKIPPED
from tests.patch_fixtures import copy_site
from tests.preflight_helpers import write_conf

MANAGER = "ironic/conductor/manager.py"  # a file the real series changes


def test_the_installed_ironic_fits_the_series():
    check = static.patches_check(None)
    assert check.status == OK, check.summary
    assert check.facts["state"] in ("applied", "not applied")


def test_an_ironic_changed_by_someone_else_does_not_fit(tmp_path):
    site = copy_site(tmp_path / "site")
    with (site / MANAGER).open("a") as f:
        f.write("\n# a local hotfix\n")
    check = static.patches_check(None, site)
    assert check.status == FAILED
    assert f"changed by someone else (neither stock nor patched): {MANAGER}" in check.summary
    assert "'ironic-scale patches check' would exit 4" in check.details


def test_a_series_applied_in_the_baseline_but_not_here_is_pointed_out(tmp_path):
    check = static.patches_check("applied", copy_site(tmp_path / "site"))
    assert check.status == OK and check.facts["state"] == "not applied"
    assert any("run 'ironic-scale patches apply' here" in d for d in check.details)


def test_configs_that_pass_give_their_ring_to_the_density_run(tmp_path):
    check = static.config_check([write_conf(tmp_path / "ironic.conf", hash_partition_exponent=7)], [], [])
    assert check.status == OK, check.summary
    assert check.summary.startswith("18 checks over 2 service(s): ")
    assert check.facts["ring"] == {"hash_partition_exponent": "7"}
    assert check.facts["ring_text"] == "exponent 7, md5"
    # One conductor serves every ring: a warning, shown, that does not fail the preflight.
    assert any(d.startswith("WARNING group_redundancy:") for d in check.details)


def test_a_value_ironic_refuses_fails_the_config_check(tmp_path):
    conf = write_conf(tmp_path / "ironic.conf", hash_partition_exponent="seven")
    check = static.config_check([conf], [], [])
    assert check.status == FAILED and "hash_partition_exponent" in check.summary


def test_a_failing_check_fails_and_is_named(tmp_path):
    a = write_conf(tmp_path / "a.conf", hash_partition_exponent=5)
    b = write_conf(tmp_path / "b.conf", hash_partition_exponent=7)
    check = static.config_check([], [a], [b])
    assert check.status == FAILED
    assert "ring_settings_match" in check.summary
    assert any(d.startswith("FAILURE ring_settings_match:") for d in check.details)


def test_no_config_is_a_skip_with_its_reason():
    check = static.config_check([], [], [])
    assert check.status == SKIPPED and "no --config-file" in check.summary


BLOCKED = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("ironic", "oslo_")) and not name.startswith("ironic_scale"):
            raise ModuleNotFoundError(f"blocked for this test: {name}", name=name)
sys.meta_path.insert(0, Refuse())
from ironic_scale.preflight import static
p, c = static.patches_check(None), static.config_check([sys.argv[1]], [], [])
print(p.status, "|", c.status, "|", c.summary)
"""


def test_without_ironic_both_are_not_available(tmp_path):
    res = subprocess.run([sys.executable, "-c", BLOCKED, write_conf(tmp_path / "ironic.conf")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    patches, config, why = (s.strip() for s in res.stdout.split("|"))
    assert (patches, config) == (NOT_AVAILABLE, NOT_AVAILABLE)
    assert "run the preflight in the conductor's venv" in why
