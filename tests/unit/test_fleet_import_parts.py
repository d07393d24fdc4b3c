"""The pure parts of ``fleet import``: where a node resumes (journal + Ironic's state), whose node it
is, the summary's counts and the automated_clean choice."""

from __future__ import annotations

import pytest

from ironic_scale.fleet import import_plan as plan
from ironic_scale.fleet import import_report as report
from ironic_scale.fleet import importer as imp
from ironic_scale.fleet.import_plan import Observed
from ironic_scale.fleet.inventory import NodeSpec
from ironic_scale.fleet.journal import Journal

U1, U2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def rec(step: str, status: str = "ok", uuid: str = U1, **data) -> dict:
    return {"node": "n1", "step": step, "status": status, "uuid": uuid, **data}


ENROLLED = [rec("enroll", "started"), rec("enroll")]
PORTED = [*ENROLLED, rec("ports")]
MANAGED = [*PORTED, rec("manage")]


def seen(state: str, uuid: str = U1, last_error: str | None = None) -> Observed:
    return Observed(uuid, state, last_error)


def test_a_node_not_in_ironic_is_enrolled_even_if_the_journal_once_created_it():
    assert plan.next_action("available", [], None) == plan.Next(plan.ENROLL, "enroll")
    # created by an earlier run, deleted by someone since: the inventory says it should exist
    assert plan.next_action("available", [*MANAGED, rec("provide")], None).action == plan.ENROLL


def test_someone_elses_node_of_that_name_is_a_conflict():
    nxt = plan.next_action("available", [], seen("available", U2))
    assert (nxt.action, nxt.step) == (plan.CONFLICT, "enroll")
    assert U2 in nxt.reason and "did not create" in nxt.reason
    # our journal created a node of that name, but not this one (it was replaced by someone)
    assert plan.next_action("active", MANAGED, seen("manageable", U2)).action == plan.CONFLICT


def test_a_create_that_went_through_before_the_journal_said_so_is_ours():
    started_only = [rec("enroll", "started")]
    assert plan.next_action("available", started_only, seen("enroll")) == plan.Next(plan.RECORD, "enroll")
    # a failed first create left a UUID that never existed; the second one is ours too
    two_tries = [rec("enroll", "started", U2), rec("enroll", "failed", None), rec("enroll", "started")]
    assert plan.next_action("available", two_tries, seen("enroll")).action == plan.RECORD


@pytest.mark.parametrize("target,entries,state,expected", [
    ("available", ENROLLED, "enroll", plan.Next(plan.PORTS, "ports")),
    ("available", PORTED, "enroll", plan.Next(plan.MANAGE, "manage")),
    ("available", [*PORTED, rec("manage", "failed", reason="bad password")], "enroll",
     plan.Next(plan.MANAGE, "manage", retry=True)),
    ("available", PORTED, "verifying", plan.Next(plan.WAIT, "manage", wait_for="manageable")),
    ("available", PORTED, "manageable", plan.Next(plan.PROVIDE, "provide")),  # stopped before recording
    ("available", MANAGED, "manageable", plan.Next(plan.PROVIDE, "provide")),
    ("active", MANAGED, "manageable", plan.Next(plan.ADOPT, "adopt")),
    ("available", MANAGED, "cleaning", plan.Next(plan.WAIT, "provide", wait_for="available")),
    ("available", MANAGED, "clean wait", plan.Next(plan.WAIT, "provide", wait_for="available")),
    ("active", MANAGED, "adopting", plan.Next(plan.WAIT, "adopt", wait_for="active")),
    ("active", [*MANAGED, rec("adopt", "failed")], "adopt failed", plan.Next(plan.ADOPT, "adopt")),
    ("available", MANAGED, "available", plan.Next(plan.RECORD, "provide")),
    ("active", MANAGED, "active", plan.Next(plan.RECORD, "adopt")),
    ("available", [*MANAGED, rec("provide")], "available", plan.Next(plan.DONE, "provide")),
    ("active", [*MANAGED, rec("adopt")], "active", plan.Next(plan.DONE, "adopt")),
])
def test_where_a_node_of_ours_resumes(target, entries, state, expected):
    assert plan.next_action(target, entries, seen(state)) == expected


def test_a_finished_node_stays_done_whatever_happened_to_it_since():
    # provided by the import, deployed by Nova afterwards: not the import's business
    assert plan.next_action("available", [*MANAGED, rec("provide")], seen("active")).action == plan.DONE


def test_states_only_an_operator_should_leave_are_reported_not_driven():
    nxt = plan.next_action("available", MANAGED, seen("clean failed", last_error="disk wipe failed"))
    assert (nxt.action, nxt.step) == (plan.STUCK, "provide")
    assert "disk wipe failed" in nxt.reason and "baremetal node manage" in nxt.reason
    nxt = plan.next_action("active", MANAGED, seen("available"))  # someone provided a running machine
    assert nxt.action == plan.STUCK and "not on the way to active" in nxt.reason
    assert plan.next_action("available", MANAGED, seen("deploying")).action == plan.STUCK


def test_journal_records_of_other_uuids_do_not_count():
    entries = [rec("enroll", "started", U2), rec("enroll", uuid=U2), rec("ports", uuid=U2),
               rec("manage", uuid=U2), rec("provide", uuid=U2), rec("enroll", "started")]
    # the node was recreated as U1 (U2 deleted): U1's own steps start over
    assert plan.next_action("available", entries, seen("enroll")).action == plan.RECORD


def spec(running: bool = False, automated_clean: bool | None = None) -> NodeSpec:
    return NodeSpec(line=2, name="n1", address="10.0.0.1", port=623, username="u", password="p", macs=(),
                    running=running, driver="ipmi", automated_clean=automated_clean)


@pytest.mark.parametrize("running,row,flag,expected", [
    (False, None, False, None),  # the cloud's [conductor]automated_clean decides
    (False, None, True, False),  # --no-automated-clean
    (True, None, True, None),  # running machines: adopted, never cleaned by the import
    (False, True, True, True),  # the row says so
    (True, False, False, False),
])
def test_automated_clean_comes_from_the_row_then_the_option(tmp_path, running, row, flag, expected):
    importer = imp.Importer(None, Journal(tmp_path / "j", "import"), imp.Options(no_automated_clean=flag))
    assert importer.automated_clean(spec(running, row)) == expected


def test_node_log_indexes_an_existing_journal_and_appends(tmp_path):
    j = Journal(tmp_path / "j", "import")
    j.record("a", "enroll", status="started", uuid=U1)
    j.record("b", "enroll", status="started", uuid=U2)
    log = imp.NodeLog(Journal(tmp_path / "j", "import"))  # a resumed run
    log.record("a", "enroll", status="ok", uuid=U1)
    assert [e["status"] for e in log.entries("a")] == ["started", "ok"]
    assert [e["uuid"] for e in log.entries("b")] == [U2] and log.entries("c") == []
    assert [e["node"] for e in Journal(tmp_path / "j", "import").entries()] == ["a", "b", "a"]


def result(outcome: str, step: str = "", name: str = "n") -> imp.Result:
    return imp.Result(name, 1, outcome, step=step, reason="why")


def test_summary_counts_outcomes_in_order_and_failures_by_step():
    results = [result(imp.CONFLICT), result(imp.AVAILABLE), result(imp.FAILED, "manage"),
               result(imp.ACTIVE), result(imp.AVAILABLE), result(imp.FAILED, "adopt"),
               result(imp.ALREADY_DONE), result(imp.FAILED, "manage")]
    assert report.counts(results) == [
        ("created, now available", 2), ("adopted, now active", 1), ("already done (earlier run)", 1),
        ("failed at adopt", 1), ("failed at manage", 2), ("skipped: someone else's node of that name", 1)]
    assert report.imported(results) == 3
    text = report.table(results, 2.0)
    assert "| failed at manage" in text and text.endswith("3 nodes imported in 2.0 s (1.5 nodes/s)")
    lines = report.attention([result(imp.FAILED, "manage", f"n{i}") for i in range(25)], limit=20)
    assert len(lines) == 21 and lines[0] == "  n0 (line 1): failed at manage: why"
    assert "5 more" in lines[-1]
