"""The density test, small: a real Ironic syncing 50 simulated nodes, every series.

Everything is real: the simulator over UDP, Ironic 39's all-in-one process on
SQLite, its own sync loop and ipmitool; for native-ipmi-patched, a copy of
Ironic with patches/ applied (made by the run) and its bulk power sync on.
Timeouts are shortened (Ironic's [ipmi]command_retry_timeout, our
[native_ipmi]command_timeout and power_state_sync_max_retries) so that dead BMCs
reach maintenance in two cycles instead of four and CI stays under five minutes.
"""

from __future__ import annotations

import datetime
import random

import pytest

from ironic_scale.bench.progress import Silent
from ironic_scale.density import report, runner

DEADLINES = {"ipmi": 10.0, "native-ipmi": 3.0, "native-ipmi-patched": 3.0}  # the per-node deadlines set below
SYNC_INTERVAL = 5


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    plan = runner.DensityPlan(
        sizes=[50], work=tmp_path_factory.mktemp("density"), cycles=2, warmup=0, sync_interval=SYNC_INTERVAL,
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
    assert {k: oob[k] for k in ("flipped", "corrected_on_bmc", "ironic_kept_state", "not_corrected")} == {
        "flipped": 3, "corrected_on_bmc": 3, "ironic_kept_state": 3, "not_corrected": []}
    # Timed by the simulator: the corrective Chassis Control came within the first cycle that
    # started after the change (or the one running then), so at most the wait for that cycle
    # (an interval, or the rest of a longer cycle) plus its runtime after the change.
    longest = max(c["runtime"] for c in records[driver]["checks"]["cycles"])
    times = zip(oob["correction_seconds"], oob["correction_after_cycle_start"], strict=True)
    for seconds, after_start in times:
        assert 0 < seconds <= max(SYNC_INTERVAL, longest) + longest + 1.0, oob
        assert 0 <= after_start <= longest + 0.05, oob
    assert set(oob["correction_actions"]) <= {"on", "off"}


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


def test_the_patched_series_runs_the_patched_ironic_in_bulk(records):
    rec = records["native-ipmi-patched"]
    assert rec["variant"]["hardware_type"] == "native-ipmi"
    assert rec["variant"]["options"] == {"conductor": {"bulk_power_sync": "true"}}
    assert "ironic-patched" in rec["variant"]["patched_ironic"]
    assert rec["enrollment"]["created"] == 50
    # The patched conductor's own account of each measured cycle: the live nodes' state was
    # read in bulk and found unchanged; the two dead BMCs, failing since the conductor's first
    # cycle, are being retried and so go one by one (then to maintenance). Stock Ironic never
    # logs this line.
    for cycle in rec["cycles"]:
        classes = cycle.get("node_classes")
        assert classes and classes["unchanged"] == 48, cycle.get("bulk_line")
        assert classes["unchanged"] + classes["per_node"] + classes["skipped"] == 50, cycle["bulk_line"]
    assert not any(c.get("node_classes") for c in records["native-ipmi"]["cycles"])


def test_report_compares_the_series_in_one_table(records, tmp_path):
    doc = report.document(list(records.values()), {"db": "sqlite", "sync_interval": SYNC_INTERVAL},
                          started=datetime.datetime.now())
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["ipmi"]["cpu_vs_ipmi"] == pytest.approx(1.0)
    assert 0 < rows["native-ipmi"]["cpu_vs_ipmi"]
    assert rows["native-ipmi"]["cpu_vs_native"] == pytest.approx(1.0)
    assert 0 < rows["native-ipmi-patched"]["cpu_vs_native"]
    text = report.render(doc)
    assert "native-ipmi-patched" in text and "corrected within one cycle: 3/3" in text
    assert "run with --db postgresql" in text
    assert report.plot(doc, str(tmp_path / "d.png")).startswith("plot: ")


def test_on_postgresql_the_api_runs_apart_and_sql_statements_are_counted(tmp_path):
    plan = runner.DensityPlan(
        sizes=[30], work=tmp_path, drivers=("native-ipmi", "native-ipmi-patched"), cycles=2, warmup=0,
        sync_interval=3, db="postgresql", address=f"127.{random.randint(2, 99)}.{random.randint(0, 250)}.1",
        conductor_base=f"127.{random.randint(101, 120)}.{random.randint(0, 250)}.1")
    stock, patched = runner.run(plan, Silent())
    for rec in (stock, patched):
        for cycle in rec["cycles"]:
            assert cycle["polled"] == 30 and cycle["missed_live"] == 0
            assert "api_cpu_seconds" in cycle  # ironic-api is its own process here
            assert cycle["db_statements_evicted"] == 0
        assert set(rec["rss_mib"]) == {"conductor", "api"}
    for cycle in stock["cycles"]:
        # Every node's sync reads it from the database: at least one transaction and a few
        # statements each (task acquisition alone is several SELECTs).
        assert cycle["db_transactions"] >= 30, cycle
        assert cycle["db_rows_read"] > 0
        assert cycle["db_statements"] >= 3 * 30, cycle
        assert cycle["db_statements_select"] >= 2 * 30, cycle
    for cycle in patched["cycles"]:
        # Unchanged nodes cost no statement of their own: one column query for all of them,
        # plus whatever else the conductor ran around the cycle (its heartbeat).
        assert cycle["db_statements"] < 30, cycle
        assert cycle["node_classes"]["unchanged"] == 30, cycle


def _conductor_plan(tmp_path, db: str, counts: tuple[int, ...], rpc: str = "json-rpc") -> runner.DensityPlan:
    """60 nodes, native-ipmi, short cycles; simulator on 127.126/16, conductors on 127.127/16. The
    ring is rebuilt 5 s after the last conductor registers (Ironic's default 15 s), so the window
    starts sooner."""
    return runner.DensityPlan(
        sizes=[60], work=tmp_path, drivers=("native-ipmi",), cycles=2, warmup=0, sync_interval=3, db=db,
        rpc=rpc, conductor_counts=counts,
        address=f"127.126.{random.randint(0, 250)}.1", conductor_base=f"127.127.{random.randint(0, 250)}.1",
        options={"DEFAULT": {"hash_ring_reset_interval": "5"}})


def _assert_owned_and_recorded(rec: dict, conductors: int) -> None:
    assert rec["conductors"] == conductors and rec["cpu_count"] >= 1
    placement = rec["placement"]
    assert placement["ok"], placement["examples"]
    assert placement["checked"] == placement["exact"] == 60
    assert placement["wrong_conductor"] == placement["two_conductors"] == placement["missed"] == 0
    assert placement["held_by_another_conductor"] == 0
    assert rec["prediction"]["orphaned"] == 0
    procs = rec["conductor_processes"]
    assert len(procs) == conductors and len({p["source_address"] for p in procs}) == conductors
    assert sum(p["predicted_nodes"] for p in procs) == 60
    names = {p["name"] for p in procs}
    assert names <= set(rec["rss_mib_processes"]) and "api:worker-1" in rec["rss_mib_processes"]
    for cycle in rec["cycles"]:
        assert cycle["polled"] == 60 and cycle["missed_live"] == 0
        assert set(cycle["per_conductor"]) == names
        assert cycle["runtime"] == max(c["runtime"] for c in cycle["per_conductor"].values())
        assert cycle["conductor_cpu_seconds"] > 0 and cycle["sync_nodes_per_second"] > 0


def test_conductors_1_and_2_on_postgresql_poll_every_node_once_by_its_owner(tmp_path):
    one, two = runner.run(_conductor_plan(tmp_path, "postgresql", (1, 2)), Silent())
    _assert_owned_and_recorded(one, 1)
    _assert_owned_and_recorded(two, 2)
    assert all(p["predicted_nodes"] > 0 for p in two["conductor_processes"])
    doc = report.document([one, two], {"db": "postgresql", "sync_interval": 3, "rpc": "json-rpc"},
                          started=datetime.datetime.now())
    assert [r["conductors"] for r in doc["rows"]] == [1, 2]
    text = report.render(doc)
    assert "1/2 conductors" in text and "60/60 exactly once per cycle by the predicted conductor" in text


def test_two_conductors_on_mariadb_over_rabbitmq(tmp_path):
    (rec,) = runner.run(_conductor_plan(tmp_path, "mariadb", (2,), rpc="rabbit"), Silent())
    _assert_owned_and_recorded(rec, 2)
    assert rec["db"] == "mariadb" and rec["rpc"] == "rabbit"
