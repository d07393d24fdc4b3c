"""The density test's own parts: Ironic's sync log lines, CPU of other processes, the series,
the patched-copy check, correction times, and the report."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time

import pytest

from ironic_scale.density import report
from ironic_scale.density.checks import correction
from ironic_scale.density.cycles import CycleWatcher, parse_bulk_line, parse_line
from ironic_scale.density.patched import PatchedIronicUnavailable, check_copy, make_copy
from ironic_scale.density.procstat import Sample, Sampler, cpu_seconds
from ironic_scale.density.variants import VARIANTS, stack_options
from ironic_scale.stack.pgstats import statement_kind

# Copied from a real Ironic 39.0.0 conductor log (1,000 nodes, native-ipmi).
LINE = ("2026-11-24 01:49:27.370 29641 DEBUG ironic.conductor.manager [None req-aeec4181-1975-4ae8-84a3-"
        "0a3c900aa7ba - - - - - -] Completed power state sync operation, evaluated 7 nodes with 8 workers "
        "in 5.52 seconds _sync_power_states /x/ironic/conductor/manager.py:1752")


def test_sync_line_gives_the_cycle_window():
    cycle = parse_line(LINE)
    end = datetime.datetime(2026, 11, 24, 1, 49, 27, 370000).timestamp()
    assert cycle.end == end
    assert cycle.runtime == 5.52 and cycle.start == end - 5.52
    assert cycle.workers == 8  # "evaluated 7 nodes" is really workers - 1: not used
    assert parse_line(LINE.replace("Completed", "Started")) is None


def test_watcher_reads_only_new_cycles_in_order_across_partial_writes(tmp_path):
    log = tmp_path / "ironic.log"
    log.write_text(LINE + "\n")  # before the watcher: not reported
    watcher = CycleWatcher(log)
    second, third = LINE.replace("5.52", "1.00"), LINE.replace("5.52", "2.00")
    with open(log, "a") as f:
        f.write("unrelated line\n" + second + "\n" + third[:40])
    assert [c.runtime for c in watcher.poll()] == [1.0]
    with open(log, "a") as f:
        f.write(third[40:] + "\n")
    assert watcher.next_cycle(timeout=1).runtime == 2.0


def test_cpu_of_another_process_counts_its_reaped_children():
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'x = 0\\nfor i in range(3_000_000): x += i']); input()")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
    try:
        sampler = Sampler(lambda: {"p": [parent.pid]}, interval=0.05).start()
        before = sampler.samples[0]
        # The child is reaped once its CPU shows up in the parent's cutime.
        deadline = before.at + 60
        while cpu_seconds(parent.pid) - before.values["p"] < 0.05:
            assert sampler.sample().at < deadline, "child CPU never reached the parent"
        after = sampler.sample()
        sampler.stop()
        mid = (before.at + after.at) / 2
        assert before.values["p"] <= sampler.value_at("p", mid) <= after.values["p"]
        assert sampler.value_at("p", after.at + 3600) is None  # far outside the samples
    finally:
        parent.communicate("\n", timeout=30)


# -- the patched Ironic's bulk-sync line (its wording is the patch's: parse it loosely) ---------

# The message patches/0004 logs, in oslo.log's debug format.
BULK = ("2026-12-02 11:02:03.120 4242 DEBUG ironic.conductor.manager [None req-1 - - - - - -] Bulk power "
        "sync: 190 nodes unchanged, 10 synced one by one (8 mismatched and 2 failed in the bulk read), "
        "3 skipped _bulk_sync_power_states /x/ironic/conductor/manager.py:1955")


@pytest.mark.parametrize("line, counts", [
    (BULK, {"unchanged": 190, "per_node": 10, "mismatched": 8, "failed": 2, "skipped": 3}),
    ("... Bulk power sync: 190 nodes unchanged, 10 to the per-node path, 3 skipped, 2 failed in bulk",
     {"unchanged": 190, "per_node": 10, "skipped": 3, "failed": 2}),
    ("... Bulk power sync: unchanged=7, per_node=1, skipped=0, failed=0",
     {"unchanged": 7, "per_node": 1, "skipped": 0, "failed": 0}),
    ("... bulk power sync finished: 5 unchanged; 2 changed (per node)", {"unchanged": 5, "per_node": 2}),
    ("... Bulk power sync: unchanged: 12", {"unchanged": 12}),
    ("... Bulk power sync unchanged=7 per_node=1", {"unchanged": 7, "per_node": 1}),
    ("... Bulk power sync polled the nodes", None),  # no counts: no classes
    (LINE, None),
    ("... Bulk power sync: 4 wombats", None),  # an unknown word is not a class
])
def test_bulk_line_gives_node_classes(line, counts):
    assert parse_bulk_line(line) == counts


def test_a_cycle_carries_the_bulk_counts_logged_before_its_end(tmp_path):
    log = tmp_path / "ironic.log"
    log.write_text(BULK + "\n")  # before the watcher: belongs to no cycle it reports
    watcher = CycleWatcher(log)
    with open(log, "a") as f:
        f.write(LINE + "\n")  # a cycle with no bulk line of its own
        f.write(BULK + "\n" + BULK.replace("190 nodes", "10 nodes") + "\n" + LINE + "\n")
        f.write(LINE + "\n")
    plain, bulk, after = watcher.poll()
    assert plain.classes is None and plain.bulk_line is None
    assert bulk.classes == {"unchanged": 200, "per_node": 20, "mismatched": 16, "failed": 4, "skipped": 6}
    assert "10 nodes unchanged" in bulk.bulk_line
    assert after.classes is None  # counts do not leak into the next cycle


# -- out-of-band change to correction ------------------------------------------------------

def test_correction_is_the_first_power_action_after_the_change():
    cycles = [{"start": 100.0, "end": 104.0}, {"start": 110.0, "end": 113.5}]
    state = {"out_of_band_at": 105.0, "power_log": [[101.0, "off"], [111.25, "on"], [112.0, "off"]]}
    assert correction(state, cycles) == {"seconds": 6.25, "action": "on", "after_cycle_start": 1.25}
    # A control that arrived outside every known cycle is timed, but has no cycle start.
    assert correction({"out_of_band_at": 105.0, "power_log": [[108.0, "on"]]}, cycles)["after_cycle_start"] \
        is None
    none = {"seconds": None, "action": None, "after_cycle_start": None}
    assert correction({"out_of_band_at": 105.0, "power_log": [[101.0, "off"]]}, cycles) == none
    assert correction({"out_of_band_at": None, "power_log": [[101.0, "off"]]}, cycles) == none


# -- series ---------------------------------------------------------------------------------

def test_a_series_own_settings_override_the_runs_and_nothing_else_changes():
    extra = {"conductor": {"bulk_power_sync": "false", "sync_power_state_workers": "4"}, "ipmi": {"a": "1"}}
    merged = stack_options(VARIANTS["native-ipmi-patched"], extra)
    assert merged == {"conductor": {"bulk_power_sync": "true", "sync_power_state_workers": "4"},
                      "ipmi": {"a": "1"}}
    assert extra["conductor"]["bulk_power_sync"] == "false"  # the run's settings are not changed
    assert stack_options(VARIANTS["native-ipmi"], extra) == extra
    assert [(v.name, v.driver, v.patched) for v in VARIANTS.values()] == [
        ("ipmi", "ipmi", False), ("native-ipmi", "native-ipmi", False),
        ("native-ipmi-patched", "native-ipmi", True)]


def _fake_ironic(root, has_option: bool):
    """A stand-in for a copy of Ironic: just enough package for the import check."""
    conf = root / "ironic" / "conf"
    conf.mkdir(parents=True)
    (root / "ironic" / "__init__.py").write_text("")
    option = "    bulk_power_sync = False\n" if has_option else "    pass\n"
    (conf / "__init__.py").write_text(
        f"class _Conductor:\n{option}\nclass CONF:\n    conductor = _Conductor\n")
    return root


def test_the_patched_copy_is_checked_to_be_what_the_stack_imports(tmp_path):
    good = _fake_ironic(tmp_path / "good", has_option=True)
    assert check_copy(good, "conductor", "bulk_power_sync") == str(good / "ironic" / "__init__.py")
    lacking = _fake_ironic(tmp_path / "lacking", has_option=False)
    with pytest.raises(PatchedIronicUnavailable, match=r"has no \[conductor\]bulk_power_sync"):
        check_copy(lacking, "conductor", "bulk_power_sync")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PatchedIronicUnavailable, match="is still imported from .*site-packages"):
        check_copy(empty, "conductor", "bulk_power_sync")


def test_without_the_patch_tool_the_patched_series_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ironic_scale.patches.tree", None)  # as in a checkout without it
    with pytest.raises(PatchedIronicUnavailable, match="leave it out with --drivers ipmi,native-ipmi"):
        make_copy(tmp_path)


# -- the report: three series, SQL statements, corrections ----------------------------------

def _cycle(runtime: float, cpu: float, statements: int | None = None, classes=None) -> dict:
    c = {"runtime": runtime, "conductor_cpu_seconds": cpu, "conductor_cpu_seconds_max": cpu * 2,
         "sim_cpu_seconds": 0.1, "polled": 100, "expected": 100, "missed_live": 0}
    if statements is not None:
        c.update(db_statements=statements, db_transactions=3, db_rows_read=1000,
                 db_statements_select=statements - 10, db_statements_insert=0, db_statements_update=4,
                 db_statements_delete=0, db_statements_begin=3, db_statements_commit=3,
                 db_statements_rollback=0, db_statements_other=0, db_statements_evicted=0)
    if classes:
        c["node_classes"] = classes
    return c


def _records(db: bool) -> list[dict]:
    def stmts(n):
        return n if db else None

    oob = {"flipped": 2, "corrected_on_bmc": 2, "ironic_kept_state": 2, "not_corrected": [],
           "correction_seconds": [6.0, 8.0], "correction_after_cycle_start": [0.5, 0.7],
           "correction_actions": ["on", "off"], "correction_summary": {"median": 7.0, "min": 6.0, "max": 8.0},
           "after_cycle_start_summary": {"median": 0.6, "min": 0.5, "max": 0.7}}
    return [
        {"size": 100, "driver": "ipmi", "cycles": [_cycle(3.0, 5.0, stmts(900))], "rss_mib": {}},
        {"size": 100, "driver": "native-ipmi", "cycles": [_cycle(1.0, 0.5, stmts(800))], "rss_mib": {}},
        {"size": 100, "driver": "native-ipmi-patched", "rss_mib": {"conductor": 150.0},
         "cycles": [_cycle(0.2, 0.1, stmts(30), {"unchanged": 98, "per_node": 2}),
                    _cycle(0.3, 0.2, stmts(40), {"unchanged": 100})],
         "checks": {"out_of_band": oob}},
    ]


def test_report_treats_the_patched_series_as_a_third_one(tmp_path):
    doc = report.document(_records(db=True), {"db": "postgresql", "sync_interval": 10},
                          started=datetime.datetime(2026, 12, 2, 11, 0))
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["native-ipmi-patched"]["cpu_vs_ipmi"] == pytest.approx(0.03)  # 1.5 / 50 ms per node
    assert rows["native-ipmi-patched"]["cpu_vs_native"] == pytest.approx(0.3)
    assert rows["native-ipmi"]["cpu_vs_native"] == pytest.approx(1.0)
    patched = rows["native-ipmi-patched"]["summary"]
    assert patched["db_statements_per_cycle"] == {"median": 35.0, "min": 30.0, "max": 40.0}
    assert patched["db_statements_per_node"]["median"] == pytest.approx(0.35)
    assert patched["node_classes"] == {"unchanged": 99.0, "per_node": 1.0}  # absent = 0 in that cycle
    text = report.render(doc)
    line = next(t for t in text.splitlines() if t.split()[:2] == ["100", "native-ipmi-patched"])
    assert " 0.300x " in line and " 35 " in line  # vs native; SQL statements per cycle
    assert "SQL statements per cycle 35 (30-40), per node 0.35 (0.30-0.40); medians by kind: 25 select, " \
           "4 update, 3 begin, 3 commit" in text
    assert "99 unchanged, 1 per-node" in text
    assert "change to corrective power action 7.00 (6.00-8.00) s, of which after its cycle started " \
           "0.60 (0.50-0.70) s" in text
    assert "--db postgresql" not in text
    # Only the patched series' cycles are under a second: its CPU's upper bound is given.
    assert "at most 3.000 (2.000-4.000) ms/node for 100 native-ipmi-patched)" in text
    assert "for 100 native-ipmi " not in text
    assert report.plot(doc, str(tmp_path / "d.png")).startswith("plot: ")


def test_report_on_sqlite_says_statements_need_postgresql():
    doc = report.document(_records(db=False), {"db": "sqlite", "sync_interval": 10},
                          started=datetime.datetime(2026, 12, 2, 11, 0))
    assert all(r["summary"]["db_statements_per_cycle"] is None for r in doc["rows"])
    text = report.render(doc)
    assert "counted on PostgreSQL only (pg_stat_statements): run with --db postgresql" in text


def test_report_warns_when_postgresql_evicted_statement_entries():
    records = _records(db=True)
    records[2]["cycles"][0]["db_statements_evicted"] = 3
    text = report.render(report.document(records, {"db": "postgresql", "sync_interval": 10},
                                         started=datetime.datetime(2026, 12, 2, 11, 0)))
    assert "native-ipmi-patched: PostgreSQL evicted 3 pg_stat_statements entries" in text


@pytest.mark.parametrize("query, kind", [
    ("SELECT 1", "select"), ("  insert into t values (1)", "insert"), ("UPDATE nodes SET x=1", "update"),
    ("DELETE FROM t", "delete"), ("BEGIN", "begin"), ("COMMIT", "commit"), ("", "other"),
    ("WITH a AS (SELECT 1) SELECT * FROM a", "select"),
    ("WITH gone AS (DELETE FROM t WHERE x = $1 RETURNING x) SELECT count(*) FROM gone", "select"),
    ("with a as (select 1), b as (select 2) update t set x = (select 1)", "update"),
    ("SAVEPOINT sa_savepoint_1", "other"), ("SHOW standard_conforming_strings", "other"),
    ("ROLLBACK", "rollback"), ("begin", "begin"), ("CREATE TABLE t (x int)", "other"),
])
def test_statement_kind(query, kind):
    assert statement_kind(query) == kind


def test_a_burst_counter_is_read_from_the_samples_around_the_window():
    sampler = Sampler(lambda: {})
    # Statements: 10 before the cycle, a burst of 50 inside [100.3, 100.4], 2 more well after.
    for at, n in ((99.9, 10), (100.15, 10), (100.45, 60), (100.7, 60), (101.5, 62)):
        sampler.samples.append(Sample(at=at, values={"n": n}, rss={}))
    assert sampler.value_around("n", 100.3, 100.4) == 50  # samples at 100.15 and 100.45
    assert sampler.value_at("n", 100.4) - sampler.value_at("n", 100.3) == pytest.approx(16.7, abs=0.1)
    assert sampler.value_around("n", 99.0, 100.4) is None  # no sample before the window
    assert sampler.value_around("n", 100.3, 102.0) is None  # none after it yet


def test_a_cycle_that_ended_after_the_last_sample_has_no_cpu_yet():
    # A cycle read as soon as Ironic logged it: its end is after the newest sample. Reading it
    # then used to give the newest sample twice, a cycle of 0.0 s CPU (CI, issue 11).
    sampler = Sampler(lambda: {})
    for at, cpu in ((100.0, 5.0), (100.25, 5.0)):
        sampler.samples.append(Sample(at=at, values={"c": cpu}, rss={}))
    assert sampler.value_at("c", 100.3) is None
    assert sampler.value_at("c", 99.9) == 5.0  # began just before sampling started
    sampler.samples.append(Sample(at=100.5, values={"c": 5.2}, rss={}))
    assert sampler.value_at("c", 100.45) - sampler.value_at("c", 100.3) == pytest.approx(0.12)


def test_wait_past_returns_once_a_later_sample_exists():
    sampler = Sampler(lambda: {"me": [os.getpid()]}, interval=0.02).start()
    try:
        target = time.time() + 0.1
        sampler.wait_past(target)
        assert sampler.samples[-1].at >= target
        assert sampler.value_at("me", target) is not None
    finally:
        sampler.stop()
