"""``ironic-scale preflight`` with its density part: a real Ironic 39 (all-in-one on SQLite) syncing
20 simulated nodes, saved as a baseline, then compared with it and with a doctored copy.

The config's ring settings go to the density stack; the passing comparison allows a 1000 %
slowdown (20 nodes make cycles of a few tens of milliseconds, far below the CPU sampling grain)
and the doctored baseline is 10x cheaper against a 100 % threshold.
"""

from __future__ import annotations

import json

import pytest

from tests.preflight_helpers import address, doctored, preflight, write_conf

DENSITY = ("--skip-bench", "--density-size", "20", "--density-cycles", "2", "--density-sync-interval", "2")


def _run(*args, work, conf):
    return preflight(*DENSITY, "--address", address((176, 178)), "--conductor-address", address((179, 180)),
                     "--work", work, "--config-file", conf, *args)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("preflight-density")
    conf = write_conf(d / "ironic.conf", hash_partition_exponent=6)
    res = _run("--save-baseline", d / "base.json", work=d / "w0", conf=conf)
    return res, d, conf


def test_save_baseline_runs_a_real_ironic_with_the_configs_ring(saved):
    res, d, _ = saved
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    doc = json.loads((d / "base.json").read_text())
    assert doc["bench"] is None and doc["skipped"] == {"bench": "--skip-bench"}
    (row,) = doc["density"]["rows"]
    assert (row["size"], row["method"], row["missed_live"], row["cycles"]) == (20, "native-ipmi", 0, 2)
    assert row["summary"]["polled_min"] == 20
    assert doc["density"]["settings"]["options"] == {"DEFAULT": {"hash_partition_exponent": "6"}}
    assert row["record"]["prediction"]["settings"]["exponent"] == 6  # the stack really ran with it
    assert doc["environment"]["ring (config)"] == "exponent 6, md5"


def test_a_baseline_ten_times_cheaper_per_node_fails_and_names_the_figure(saved, tmp_path):
    _, d, conf = saved
    doctored(d / "base.json", tmp_path / "cheap.json", "density", "conductor_cpu_ms_per_node", 0.1)
    res = _run("--baseline", tmp_path / "cheap.json", "--density-threshold", "1.0", "--format", "markdown",
               work=tmp_path / "w", conf=conf)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    assert "REGRESSED (exit 1)" in res.stdout.splitlines()[0]
    assert "| density | 20 nodes native-ipmi | CPU ms/node |" in res.stdout
    # The doctored figure is named; on a loaded machine the cycle time may regress with it.
    regressed = next(line for line in res.stdout.splitlines() if line.startswith("- regressed ("))
    assert "density: 20 nodes native-ipmi CPU ms/node +" in regressed, regressed
    assert "| density | 20 nodes native-ipmi | polled | 20/20 | 20/20 |" in res.stdout


def test_compare_with_its_own_baseline_passes(saved, tmp_path):
    _, d, conf = saved
    res = _run("--baseline", d / "base.json", "--density-threshold", "10", "--format", "json",
               work=tmp_path / "w", conf=conf)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    doc = json.loads(res.stdout)
    density = next(c for c in doc["checks"] if c["name"] == "density")
    assert density["status"] == "ok" and density["summary"] == "2 figures within 1000% of the baseline"
    assert {f["name"] for f in density["figures"]} == {"CPU ms/node", "cycle s", "polled"}
    assert density["seconds"] > 0
    assert {"check": "bench", "status": "skipped", "reason": "--skip-bench"} in doc["not_run"]
