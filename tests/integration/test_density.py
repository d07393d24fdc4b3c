"""The density test, small: a real Ironic syncing 50 simulated nodes, both drivers.

Everything is real: the simulator over UDP, Ironic 39's all-in-one process on
SQLite, its own sync loop and ipmitool. Timeouts are shortened (Ironic's
[ipmi]command_retry_timeout, our [native_ipmi]command_timeout and
power_state_sync_max_retries) so that dead BMCs reach maintenance in two
cycles instead of four and CI stays under five minutes.
"""

from __future__ import annotations

import datetime
import random

import pytest

from ironic_scale.bench.progress import Silent
from ironic_scale.density import report, runner

DEADLINES = {"ipmi": 10.0, "native-ipmi": 3.0}  # the per-node deadlines set below


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    plan = runner.DensityPlan(
        sizes=[50], work=tmp_path_factory.mktemp("density"), cycles=2, warmup=0, sync_interval=5,
        address=f"127.{random.randint(2, 99)}.{random.randint(0, 250)}.1",
        conductor_base=f"127.{random.randint(101, 120)}.{random.randint(0, 250)}.1",
        dead_fraction=0.04, flips=3,
        options={"conductor": {"power_state_sync_max_retries": "1"},
                 "ipmi": {"command_retry_timeout": str(int(DEADLINES["ipmi"]))},
                 "native_ipmi": {"command_timeout": str(DEADLINES["native-ipmi"])}})
    return {r["driver"]: r for r in runner.run(plan, Silent())}


@pytest.mark.parametrize("driver", runner.DRIVERS)
def test_every_live_node_is_polled_every_cycle(records, driver):
    rec = records[driver]
    assert len(rec["cycles"]) == 2
    for cycle in rec["cycles"] + rec["checks"]["cycles"]:
        assert cycle["expected"] == 48
        assert cycle["missed_live"] == 0, cycle["missed_live_examples"]
        assert cycle["polled"] == 48
        assert cycle["conductor_cpu_seconds"] > 0


@pytest.mark.parametrize("driver", runner.DRIVERS)
def test_out_of_band_change_is_corrected_within_one_cycle(records, driver):
    oob = records[driver]["checks"]["out_of_band"]
    assert oob == {"flipped": 3, "corrected_on_bmc": 3, "ironic_kept_state": 3, "not_corrected": []}


@pytest.mark.parametrize("driver", runner.DRIVERS)
def test_dead_bmcs_go_to_maintenance_without_stalling_the_others(records, driver):
    dead = records[driver]["checks"]["dead"]
    assert dead["dead"] == 2
    assert dead["in_maintenance"] == 2
    assert dead["faults"] == ["power failure"]
    assert dead["live_in_maintenance"] == 0
    # The dead nodes are tried first, by parallel workers: a cycle with them costs at most
    # about one per-node deadline more than a cycle without them.
    slack = 10.0
    assert dead["cycle_runtime_with_dead"] <= (dead["cycle_runtime_without_dead"]
                                               + DEADLINES[driver] + slack)


def test_report_compares_the_drivers_in_one_table(records, tmp_path):
    doc = report.document(list(records.values()), {"db": "sqlite", "sync_interval": 5},
                          started=datetime.datetime.now())
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["ipmi"]["cpu_vs_ipmi"] == pytest.approx(1.0)
    assert 0 < rows["native-ipmi"]["cpu_vs_ipmi"]
    text = report.render(doc)
    assert "native-ipmi" in text and "corrected within one cycle: 3/3" in text
    assert report.plot(doc, str(tmp_path / "d.png")).startswith("plot: ")


def test_on_postgresql_the_api_runs_apart_and_db_load_is_counted(tmp_path):
    plan = runner.DensityPlan(
        sizes=[30], work=tmp_path, drivers=("native-ipmi",), cycles=2, warmup=0, sync_interval=3,
        db="postgresql", address=f"127.{random.randint(2, 99)}.{random.randint(0, 250)}.1",
        conductor_base=f"127.{random.randint(101, 120)}.{random.randint(0, 250)}.1")
    (rec,) = runner.run(plan, Silent())
    for cycle in rec["cycles"]:
        assert cycle["polled"] == 30 and cycle["missed_live"] == 0
        # Every node's sync reads it from the database: at least one transaction each.
        assert cycle["db_transactions"] >= 30, cycle
        assert cycle["db_rows_read"] > 0
        assert "api_cpu_seconds" in cycle  # ironic-api is its own process here
    assert set(rec["rss_mib"]) == {"conductor", "api"}
