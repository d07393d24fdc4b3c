"""The differential test's comparison, on made-up traces: what it reports and what it may ignore."""

from __future__ import annotations

import copy
import datetime

from ironic_scale.density.cycles import Cycle
from tests.integration.differential import compare, script
from tests.integration.differential.runner import Trace


def trace(side: str, uuid_prefix: str) -> Trace:
    """A run in which nothing happened: every node off and idle, cycle k at 10k .. 10k + 1."""
    node = {f: None for f in script.FIELDS} | {"power_state": "power off", "maintenance": False}
    uuids = {role: f"{uuid_prefix}-{i:04d}" for i, role in enumerate(script.ROLE_NAMES)}
    return Trace(
        side=side, uuids=uuids,
        cycles=[Cycle(start=10.0 * k, end=10.0 * k + 1, runtime=1.0, workers=8)
                for k in range(1, script.CYCLES + 1)],
        checkpoints=[{role: dict(node) for role in script.ROLE_NAMES} for _ in range(script.CYCLES)],
        power_logs={role: [] for role in script.ROLE_NAMES},
        bmc_power={role: "off" for role in script.ROLE_NAMES},
        log_lines=[])


def test_equal_runs_have_no_difference_although_their_uuids_differ():
    a, b = trace("stock", "aaaa"), trace("patched", "bbbb")
    for t in (a, b):
        t.checkpoints[-1]["wrong-password"]["last_error"] = f"retries for node {t.uuids['wrong-password']}"
    assert compare.differences(a, b) == []
    assert compare.report([], a, b) == "patched matches stock"


def test_a_field_that_differs_is_reported_where_and_with_both_values():
    a, b = trace("stock", "aaaa"), trace("patched", "bbbb")
    b.checkpoints[2]["flaky"]["maintenance"] = True
    b.checkpoints[-1]["failed-action"]["last_error"] = f"failed on {b.uuids['failed-action']}"
    diffs = compare.differences(a, b)
    assert diffs == [
        compare.Difference("after cycle 3", "flaky", "maintenance", False, True),
        compare.Difference("final", "failed-action", "last_error", None, "failed on <failed-action>"),
    ]
    text = compare.report(diffs, a, b)
    assert "after cycle 3  maintenance" in text and "'failed on <failed-action>'" in text


def test_masked_fields_are_ignored_at_their_checkpoint_only_and_never_at_the_end(monkeypatch):
    mask = ("maintenance",)
    monkeypatch.setattr(script, "masked", lambda: {(3, "flaky"): mask, (script.CYCLES, "flaky"): mask})
    a, b = trace("stock", "aaaa"), trace("patched", "bbbb")
    b.checkpoints[2]["flaky"]["maintenance"] = True
    b.checkpoints[2]["flaky"]["fault"] = "power failure"  # not masked
    assert [(d.where, d.what) for d in compare.differences(a, b)] == [("after cycle 3", "fault")]
    b.checkpoints[3]["flaky"]["maintenance"] = True
    b.checkpoints[-1]["flaky"]["maintenance"] = True
    assert [(d.where, d.what) for d in compare.differences(a, b)] == [
        ("after cycle 3", "fault"), ("after cycle 4", "maintenance"), ("final", "maintenance")]


def test_the_script_masks_only_checkpoints_before_the_end():
    assert script.masked() and all(k < script.CYCLES for k, _ in script.masked())


def test_power_actions_are_compared_in_order_and_placed_in_cycles():
    a, b = trace("stock", "aaaa"), trace("patched", "bbbb")
    a.power_logs["flip-off"] = [(20.5, "off"), (45.0, "on")]
    b.power_logs["flip-off"] = [(20.5, "on"), (45.0, "off")]  # same counts, other order
    (d,) = compare.differences(a, b)
    assert d.what == "chassis control"
    assert d.a == ["off (in cycle 2)", "on (before cycle 5)"]
    b.power_logs["flip-off"] = copy.deepcopy(a.power_logs["flip-off"])
    b.bmc_power["flip-off"] = "on"
    assert [(d.where, d.a, d.b) for d in compare.differences(a, b)] == [("host power", "off", "on")]


def test_log_excerpt_keeps_one_nodes_lines_in_cycle_terms_and_folds_repeats():
    t = trace("stock", "aaaa")
    uuid = t.uuids["dead-on"]

    def line(seconds: float, level: str, msg: str) -> str:
        ts = datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"{ts} 123 {level} ironic.conductor.manager [-] {msg}"

    t.log_lines = [line(20.5, "WARNING", f"could not get power state for node {uuid}"),
                   line(25.0, "DEBUG", f"noise about {uuid}"),
                   line(25.5, "WARNING", f"recovery failed for {uuid}"),
                   line(35.5, "WARNING", f"recovery failed for {uuid}"),
                   line(36.0, "WARNING", f"another node {t.uuids['flaky']}")]
    assert compare.log_excerpt(t, "dead-on") == [
        "[in cycle 2] WARNING ironic.conductor.manager: could not get power state for node <dead-on>",
        "[before cycle 3 .. before cycle 4, 2 times] WARNING ironic.conductor.manager: "
        "recovery failed for <dead-on>"]
