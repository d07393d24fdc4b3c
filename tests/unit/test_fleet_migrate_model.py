"""What fleet migrate would do to a node, and its journal: pure logic, no cloud."""

from __future__ import annotations

import json

import pytest
from ironic.common import states

from ironic_scale.fleet import migrate_model as model
from ironic_scale.fleet.errors import FleetError
from ironic_scale.fleet.journal import Journal
from ironic_scale.fleet.migrate_select import Selection, matches, parse_node_list
from ironic_scale.fleet.migrate_steps import current_attempt
from tests.cli_helpers import run_cli

IPMITOOL = {"driver": "ipmi", "power_interface": "ipmitool", "management_interface": "ipmitool",
            "vendor_interface": "ipmitool", "provision_state": "active", "reservation": None,
            "target_provision_state": None}


def node(**kw):
    return {**IPMITOOL, **kw}


def test_states_are_ironics():
    assert model.STABLE == states.STABLE_STATES
    assert set(model.FAILED) == {states.DEPLOYFAIL, states.CLEANFAIL, states.INSPECTFAIL, states.ADOPTFAIL,
                                 states.RESCUEFAIL, states.UNRESCUEFAIL, states.SERVICEFAIL}
    assert not set(model.STABLE + model.FAILED) & set(states.UNSTABLE_STATES)


@pytest.mark.parametrize(("fields", "action", "reason"), [
    ({}, "migrate", ""),
    ({"provision_state": "deploy failed"}, "migrate", ""),
    ({"provision_state": "enroll"}, "migrate", ""),
    ({"driver": "native-ipmi"}, "migrate", ""),  # native hardware type, ipmitool interfaces
    ({"provision_state": "cleaning", "target_provision_state": "available"}, "skip",
     "in transitional state cleaning -> available: a conductor is working on it"),
    ({"provision_state": "wait call-back"}, "skip", "in transitional state wait call-back"),
    ({"reservation": "c1"}, "skip", "locked by conductor c1"),
    ({"driver": "redfish"}, "skip", "hardware type redfish is not ipmi or native-ipmi"),
    ({"driver": "native-ipmi", "power_interface": "native-ipmi", "management_interface": "native-ipmi"},
     "already", "already on native-ipmi"),
])
def test_classify(fields, action, reason):
    verdict = model.classify(node(**fields), "native-ipmi")
    assert verdict.action == action and verdict.reason.startswith(reason)


def test_vendor_interface_follows_only_between_ipmitool_and_native():
    assert model.final_fields(node(), "native-ipmi")["vendor_interface"] == "native-ipmi"
    no_vendor = model.final_fields(node(vendor_interface="no-vendor"), "native-ipmi")
    assert no_vendor["vendor_interface"] == "no-vendor"
    back = model.final_fields(node(vendor_interface="native-ipmi"), "ipmitool")
    assert back == {"driver": "ipmi", "power_interface": "ipmitool", "management_interface": "ipmitool",
                    "vendor_interface": "ipmitool"}
    # The read needs the native-ipmi hardware type and vendor interface, whatever the target.
    assert model.verify_fields("ipmitool") == {"driver": "native-ipmi", "power_interface": "ipmitool",
                                               "management_interface": "ipmitool",
                                               "vendor_interface": "native-ipmi"}


def test_batches_and_failure_rule():
    assert model.batches(list(range(10)), 1, 4) == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert model.batches(list(range(3)), 0, 5) == [[0, 1, 2]]
    assert model.batches([], 1, 5) == []
    with pytest.raises(ValueError):
        model.batches([1], 1, 0)
    assert model.too_many_failures(1, 50, 0.1, canary=True)
    assert not model.too_many_failures(5, 50, 0.1, canary=False)
    assert model.too_many_failures(6, 50, 0.1, canary=False)
    assert not model.too_many_failures(0, 0, 0.0, canary=True)


def test_selection():
    n = {"name": "rack12-07", "conductor_group": "", "resource_class": "gold"}
    assert matches(n, Selection(name_pattern="rack12-*", resource_class="gold", conductor_group=""))
    assert not matches(n, Selection(name_pattern="rack13-*"))
    assert not matches(n, Selection(conductor_group="east"))
    assert Selection().empty() and not Selection(all=True).empty()


def test_node_list(tmp_path):
    assert parse_node_list("a, b,,a") == ("a", "b")
    f = tmp_path / "nodes"
    f.write_text("# rack 12\nn1\nn2  # spare\n\n")
    assert parse_node_list(f"@{f}") == ("n1", "n2")
    with pytest.raises(FleetError, match="no node names"):
        parse_node_list(",")
    with pytest.raises(FleetError, match="No such file"):
        parse_node_list(f"@{tmp_path / 'missing'}")


def test_current_attempt_starts_after_the_last_ending():
    steps = [{"step": s} for s in ("planned", "failed", "rolled_back", "planned", "switched")]
    assert [e["step"] for e in current_attempt(steps)] == ["planned", "switched"]
    assert current_attempt([{"step": "done"}]) == []


def test_journal_survives_a_torn_write_and_refuses_another_kind(tmp_path):
    path = tmp_path / "j"
    j = Journal(path, "migrate", {"target": "native-ipmi"})
    j.record("u1", "planned", before={"driver": "ipmi"})
    j.record("u2", "planned")
    with open(path, "a") as f:
        f.write('{"node": "u1", "step": "swi')  # killed mid-write
    again = Journal(path, "migrate")
    assert again.resumed and again.dropped_partial
    assert [e["step"] for e in again.entries("u1")] == ["planned"]
    assert again.header["target"] == "native-ipmi" and again.nodes() == ["u1", "u2"]
    again.record("u1", "switched")
    lines = path.read_text().splitlines()[1:]
    assert [json.loads(x)["step"] for x in lines] == ["planned", "planned", "switched"]
    with pytest.raises(FleetError, match="is not a fleet import journal"):
        Journal(path, "import")
    path.write_text("not json\n")
    with pytest.raises(FleetError, match="not a fleet migrate journal"):
        Journal(path, "migrate")


def test_an_unreachable_api_is_one_line_and_exit_2(capsys):
    # Port 9 (discard) on loopback: nothing listens there.
    argv = ["fleet", "migrate", "--to", "native-ipmi", "--all", "--endpoint", "http://127.0.0.1:9"]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ironic-scale fleet: error: cannot reach the Ironic API") and "\n" not in err
