"""Several conductors in the density test: who polled what, and rounds of cycles (hand-made input)."""

from __future__ import annotations

import datetime

import pytest

from ironic_scale.density import placement, report

A, B = "127.127.0.1", "127.127.0.2"


def test_counts_from_reply_turns_monotonic_times_into_wall_clock():
    reply = {"requesters": {"127.126.0.1:623": {"sources": {A: {"status_reads": 3, "last_status": 10.0,
                                                                 "logins": 1}}},
                            "127.126.0.2:623": {"sources": {B: {"status_reads": 0, "last_status": None}}}}}
    counts = placement.counts_from_reply(reply, wall_offset=1000.0)
    assert counts == {"127.126.0.1:623": {A: (3, 1010.0)}, "127.126.0.2:623": {B: (0, None)}}


def test_window_reads_moves_reads_between_a_cycle_end_and_its_snapshot():
    # Window (100, 200]. Snapshot before (a reset) saw a read at 100.5: the next cycle's, in the
    # window. Snapshot after counts 3 since the reset, the last at 200.2: after the window.
    before = {"k1": {A: (5, 100.5)}, "k2": {A: (4, 99.0)}}
    after = {"k1": {A: (3, 200.2)}, "k2": {A: (2, 150.0)}, "k3": {B: (1, 201.0)}}
    reads = placement.window_reads(before, after, since=100.0, until=200.0)
    assert reads == {"k1": {A: 3}, "k2": {A: 2}, "k3": {}}
    # A read within the log's millisecond grain after a logged end is that cycle's.
    reads = placement.window_reads({"k1": {A: (1, 100.0005)}}, {"k1": {A: (2, 200.001)}}, 100.0, 200.0)
    assert reads == {"k1": {A: 2}}
    # Without a reset, the counts are differences.
    reads = placement.window_reads({"k1": {A: (5, 99.0)}}, {"k1": {A: (7, 180.0)}}, 100.0, 200.0,
                                   before_reset=False)
    assert reads == {"k1": {A: 2}}


def test_polled_by_whom_counts_each_kind_of_failure():
    owner = {"ok": A, "wrong": A, "both": B, "missed": B, "twice": A, "dead": A}
    reads = {"ok": {A: 2}, "wrong": {B: 2}, "both": {A: 1, B: 2}, "missed": {}, "twice": {A: 4},
             "dead": {}}
    r = placement.polled_by_whom(reads, owner, {A: 2, B: 2}, ignore=["dead"])
    assert {k: r[k] for k in ("checked", "exact", "wrong_conductor", "two_conductors", "missed",
                              "miscounted", "ok")} == {
        "checked": 5, "exact": 1, "wrong_conductor": 2, "two_conductors": 1, "missed": 2,
        "miscounted": 1, "ok": False}
    assert r["examples"]["miscounted"] == [{"bmc": "twice", "reads": {A: 4, "expected": 2}}]
    assert [e["bmc"] for e in r["examples"]["missed"]] == ["missed", "wrong"]


def test_polled_by_whom_all_good():
    owner = {f"k{i}": (A if i % 2 else B) for i in range(10)}
    reads = {k: {s: 3} for k, s in owner.items()}
    r = placement.polled_by_whom(reads, owner, {A: 3, B: 3})
    assert r["ok"] and r["exact"] == r["checked"] == 10 and r["examples"] == {}


def test_owners_by_source_and_sessions_held_elsewhere():
    owners = {"u1": "c1", "u2": "c2", "u3": None}
    by_source = placement.owners_by_source(owners, {"u1": "k1", "u2": "k2", "u3": "k3"},
                                           {"c1": A, "c2": B})
    assert by_source == {"k1": A, "k2": B}
    reply = {"requesters": {"k1": {"held": {A: 1}}, "k2": {"held": {A: 1, B: 1}}}}
    assert placement.held_elsewhere(reply, by_source) == 1


def test_round_summary_takes_the_slowest_conductor_and_sums_cpu():
    s = placement.round_summary(1000, {
        "c1": {"runtime": 2.0, "start": 10.0, "end": 12.0, "cpu_seconds": 1.5, "cpu_seconds_max": 1.7},
        "c2": {"runtime": 4.0, "start": 11.0, "end": 15.0, "cpu_seconds": 2.5, "cpu_seconds_max": 2.6}})
    assert s == {"runtime": 4.0, "start": 10.0, "end": 15.0, "fastest_conductor_runtime": 2.0,
                 "sync_nodes_per_second": 250.0, "conductor_cpu_seconds": 4.0,
                 "conductor_cpu_seconds_max": 4.3}
    partial = placement.round_summary(10, {"c1": {"runtime": 1.0, "start": 0, "end": 1, "cpu_seconds": None}})
    assert partial["conductor_cpu_seconds"] is None


def _record(size, conductors, driver="native-ipmi", runtimes=(2.0, 4.0), cpu=4.0):
    names = [f"conductor-{i + 1}" for i in range(conductors)]
    slowest = max(runtimes[:conductors])
    cycle = {"runtime": slowest, "start": 0.0, "end": 5.0, "polled": size, "expected": size,
             "missed_live": 0, "conductor_cpu_seconds": cpu, "sync_nodes_per_second": size / slowest,
             "per_conductor": {n: {"runtime": runtimes[i]} for i, n in enumerate(names)}}
    return {"size": size, "driver": driver, "conductors": conductors, "cycles": [cycle, dict(cycle)],
            "rss_mib": {"conductor": 300.0, "api": 100.0},
            "rss_mib_processes": {**{n: 150.0 + i for i, n in enumerate(names)}, "api:worker-1": 100.0},
            "conductor_processes": [{"name": n, "registered_name": f"127.127.0.{i + 1}",
                                     "source_address": f"127.127.0.{i + 1}",
                                     "predicted_nodes": size // conductors}
                                    for i, n in enumerate(names)],
            "placement": {"checked": size, "exact": size, "wrong_conductor": 0, "two_conductors": 0,
                          "missed": 0, "miscounted": 0, "held_by_another_conductor": 0, "ok": True,
                          "inexact_windows": []}}


def test_report_has_conductors_as_a_dimension(tmp_path):
    records = [_record(1000, 1, runtimes=(4.0,)), _record(1000, 2), _record(1000, 4, runtimes=(2, 3, 4, 5))]
    doc = report.document(records, {"db": "postgresql", "sync_interval": 10, "rpc": "json-rpc"},
                          started=datetime.datetime.now())
    doc["machine"]["cores"] = 2
    rows = doc["rows"]
    assert [r["conductors"] for r in rows] == [1, 2, 4]
    assert rows[1]["summary"]["sync_nodes_per_second"]["median"] == pytest.approx(250.0)
    assert rows[1]["summary"]["conductor_cycle_seconds"]["conductor-2"]["median"] == 4.0
    # vs native compares within the same conductor count
    assert all(r["cpu_vs_native"] == pytest.approx(1.0) for r in rows)
    text = report.render(doc)
    assert "1/2/4 conductors" in text and "2 CPU cores" in text
    assert "1000/1000" in text and "exactly once per cycle by the predicted conductor" in text
    assert "api:worker-1 100.0" in text
    assert report.plot(doc, str(tmp_path / "p.png")).startswith("plot: ")


def test_one_conductor_records_from_before_still_render():
    old = _record(200, 1, runtimes=(1.0,))
    for key in ("conductors", "rss_mib_processes", "conductor_processes", "placement"):
        old.pop(key)
    for c in old["cycles"]:
        c.pop("per_conductor"), c.pop("sync_nodes_per_second")
    doc = report.document([old], {"db": "sqlite", "sync_interval": 10}, started=datetime.datetime.now())
    assert doc["rows"][0]["conductors"] == 1
    assert doc["rows"][0]["summary"]["sync_nodes_per_second"]["median"] == 200.0
    text = report.render(doc)
    assert "one conductor" in text and "CPU cores" not in text
