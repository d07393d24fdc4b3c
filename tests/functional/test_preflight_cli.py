"""``ironic-scale preflight`` end to end on the simulator, bench only: save a baseline, compare with
it, with a doctored copy of it, with broken ones, and read-only against a fleet's inventory.

Sizes are tiny, so figures are noisy: the passing runs allow a 1000 % slowdown and the doctored
baseline is 10x cheaper than measured against a 100 % threshold; what is asserted is the
verdict, the exit code and the report's words, never a speed.
"""

from __future__ import annotations

import json

import pytest

from tests.fleets import start_in_range
from tests.preflight_helpers import address, doctored, preflight, write_conf


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("preflight")
    res = preflight("--save-baseline", d / "base.json", "--skip-density", "--sizes", "30", "--repeats", "2",
                    "--address", address(), "--work", d / "w0",
                    "--config-file", write_conf(d / "ironic.conf", hash_partition_exponent=7))
    return res, d


def test_save_baseline_records_bench_and_the_environment(saved):
    res, d = saved
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    doc = json.loads((d / "base.json").read_text())
    assert doc["kind"] == "ironic-scale preflight baseline" and doc["density"] is None
    assert doc["skipped"] == {"density": "--skip-density"}
    rows = {(r["size"], r["method"]) for r in doc["bench"]["rows"]}
    assert rows == {(30, "native"), (30, "native-interface")}
    env = doc["environment"]
    assert env["ironic"] and env["python"] and env["patch series"] in ("applied", "not applied")
    assert env["ring (config)"] == "exponent 7, md5"
    assert f"baseline saved: {d / 'base.json'}" in res.stdout
    assert "preflight [3/4] bench: power-poll cost" in res.stderr  # progress on stderr


def test_compare_with_its_own_baseline_passes_and_writes_json(saved, tmp_path):
    _, d = saved
    res = preflight("--baseline", d / "base.json", "--threshold", "10",
                    "--address", address(), "--work", tmp_path / "w", "--format", "json",
                    "--output", tmp_path / "report.json")
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "OK (exit 0)" in res.stdout  # the table still goes to the terminal
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["result"] == "ok" and doc["exit_code"] == 0
    bench = next(c for c in doc["checks"] if c["name"] == "bench")
    assert bench["status"] == "ok" and bench["summary"] == "4 figures within 1000% of the baseline"
    assert all(f["change"] is not None for f in bench["figures"])
    assert {"check": "density", "status": "skipped",
            "reason": "the baseline has no density results (--skip-density)"} in doc["not_run"]
    # The run took its sizes and methods from the baseline.
    raw = json.loads((tmp_path / "w" / "bench.json").read_text())
    assert raw["settings"]["sizes"] == [30] and raw["settings"]["repeats"] == 2


def test_a_baseline_ten_times_cheaper_fails_and_names_the_figure(saved, tmp_path):
    _, d = saved
    doctored(d / "base.json", tmp_path / "cheap.json", "bench", "cpu_ms_per_node", 0.1)
    res = preflight("--baseline", tmp_path / "cheap.json", "--skip-density", "--threshold", "1.0",
                    "--address", address(), "--work", tmp_path / "w")
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    assert "REGRESSED (exit 1)" in res.stdout
    regressed = next(line for line in res.stdout.splitlines() if line.startswith("regressed ("))
    assert "bench: 30 BMCs native CPU ms/node +" in regressed
    assert "bench: 30 BMCs native-interface CPU ms/node +" in regressed


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ('{"kind": "ironic-scale preflight baseline", "schema": 1, "bench": {"rows": [', "not valid JSON"),
])
def test_a_missing_or_corrupt_baseline_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content)
    res = preflight("--baseline", path, "--work", tmp_path / "w", timeout=60)
    assert res.returncode == 2
    assert res.stderr.startswith(f"ironic-scale preflight: error: baseline {path}: {message}")
    assert res.stderr.count("\n") == 1 and res.stdout == ""


def test_inventory_mode_polls_real_bmcs_read_only(fleet_factory, saved, tmp_path):
    fleet = start_in_range(fleet_factory, 20, "127.176")
    inv = fleet.inventory_path
    res = preflight("--inventory", inv, "--save-baseline", tmp_path / "real.json", "--repeats", "2",
                    "--work", tmp_path / "w1")
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "skipped: density: --inventory polls real BMCs" in res.stdout
    res = preflight("--inventory", inv, "--baseline", tmp_path / "real.json", "--threshold", "10",
                    "--work", tmp_path / "w2", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    doc = json.loads(res.stdout)
    bench = next(c for c in doc["checks"] if c["name"] == "bench")
    assert [f["row"] for f in bench["figures"]] == ["20 BMCs native", "20 BMCs native"]
    raw = json.loads((tmp_path / "w2" / "bench.json").read_text())
    assert raw["mode"] == "inventory" and raw["write_requests_seen"] == []
    counters = fleet.control.counters()
    assert counters.get("req.chassis_control", 0) == 0 and counters.get("req.set_boot_options", 0) == 0
    assert counters.get("req.get_chassis_status", 0) >= 4 * 20
    # A baseline from the simulator cannot judge real BMCs: refused before anything runs.
    _, d = saved
    res = preflight("--inventory", inv, "--baseline", d / "base.json", "--work", tmp_path / "w3", timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "the baseline's bench ran on the simulator" in res.stderr
