"""Bulk enrollment and driver switching against a real Ironic and the simulator (no mocks).

The nodes are written by ``ironic_scale.stack.enroll`` in its own process through
Ironic's object and DB layers; everything is checked over Ironic's REST API.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ironic_scale.sim import inventory
from ironic_scale.stack.enroll import (
    SIM_VENDOR,
    EnrollFailed,
    node_name,
    run_enroll,
    run_set_driver,
)
from tests.integration.ironic_stack import IronicStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = IronicStack(tmp_path_factory.mktemp("ironic"), sync_interval=60)
    s.start()
    yield s
    s.stop()


def nodes(stack: IronicStack) -> dict[str, dict]:
    return {n["name"]: n for n in stack.request("GET", "/v1/nodes/detail")["nodes"]}


def interfaces(node: dict) -> dict[str, str]:
    return {k: v for k, v in node.items() if k.endswith("_interface")}


def rest_defaults(stack: IronicStack, driver: str) -> dict[str, str]:
    """The interfaces Ironic's API gives a node created on ``driver`` without naming any."""
    uuid = stack.request("POST", "/v1/nodes", {"driver": driver, "name": f"reference-{driver}"})["uuid"]
    try:
        return interfaces(stack.request("GET", f"/v1/nodes/{uuid}"))
    finally:
        stack.request("DELETE", f"/v1/nodes/{uuid}")


def set_column(stack: IronicStack, name: str, column: str, value: str | None) -> None:
    """Change one node behind Ironic's back, as another conductor's lock or a deploy would."""
    assert column in ("reservation", "provision_state")
    with sqlite3.connect(stack.work / "ironic.sqlite", timeout=30) as db:
        assert db.execute(f"UPDATE nodes SET {column} = ? WHERE name = ?", (value, name)).rowcount == 1


def merged_inventory(path: Path, *fleets) -> list[inventory.Endpoint]:
    path.write_text("".join(Path(f.inventory_path).read_text() for f in fleets))
    return inventory.read(path)


def test_enroll_creates_available_nodes_that_match_the_simulator(stack, fleet_factory, tmp_path):
    off, on = fleet_factory(30), fleet_factory(20, "--power", "on")
    inv = tmp_path / "inventory.jsonl"
    endpoints = merged_inventory(inv, off, on)
    expected_interfaces = rest_defaults(stack, "ipmi")

    out = run_enroll([stack.conf], inv, "ipmi")
    assert (out["created"], out["existing"], out["driver"]) == (50, 0, "ipmi")

    listed = nodes(stack)
    for ep in endpoints:
        node = listed[node_name(ep.address, ep.port)]
        sim_power = (off if ep in off.endpoints else on).control.state(ep.key)["power"]
        assert node["provision_state"] == "available"
        assert node["power_state"] == f"power {sim_power}"
        assert node["driver"] == "ipmi"
        assert interfaces(node) == expected_interfaces
        assert node["driver_info"] == {"ipmi_address": ep.address, "ipmi_port": ep.port,
                                       "ipmi_username": ep.username, "ipmi_password": "******"}
        assert node["resource_class"] == "baremetal"
        assert node["properties"] == {"vendor": SIM_VENDOR}
        assert node["reservation"] is None and not node["maintenance"]
    assert sum(n["power_state"] == "power on" for n in listed.values()
               if n["name"] in {node_name(e.address, e.port) for e in endpoints}) == 20

    # Re-run by hand, logging nowhere but the console: stdout is still the one JSON line.
    no_log_file = tmp_path / "console-log.conf"
    no_log_file.write_text("[DEFAULT]\nlog_file =\n")
    cmd = [sys.executable, "-m", "ironic_scale.stack.enroll", "--config-file", str(stack.conf),
           "--config-file", str(no_log_file), "enroll", "--inventory", str(inv), "--driver", "ipmi"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1, proc.stdout
    again = json.loads(proc.stdout)
    assert (again["created"], again["existing"]) == (0, 50)
    assert len(nodes(stack)) == len(listed)


def test_set_driver_switches_unlocked_nodes_and_back(stack, fleet_factory, tmp_path):
    fleet = fleet_factory(8)
    inv = Path(fleet.inventory_path)
    names = [node_name(ep.address, ep.port) for ep in fleet.endpoints]
    assert run_enroll([stack.conf], inv, "ipmi", limit=6)["created"] == 6
    assert run_enroll([stack.conf], inv, "ipmi")["created"] == 2  # --limit took the first 6
    native, ipmi = rest_defaults(stack, "native-ipmi"), rest_defaults(stack, "ipmi")
    assert native["power_interface"] == "native-ipmi" != ipmi["power_interface"]
    locked, busy, ours = names[0], names[1], names[2:]
    set_column(stack, locked, "reservation", "another-conductor")
    set_column(stack, busy, "provision_state", "active")
    try:
        total = len(nodes(stack))
        out = run_set_driver([stack.conf], "native-ipmi")  # every node in Ironic
        assert (out["switched"], out["skipped_locked"], out["skipped_state"]) == (total - 2, 1, 1)
        listed = nodes(stack)
        assert listed[locked]["driver"] == listed[busy]["driver"] == "ipmi"
        for name, node in listed.items():
            if name not in (locked, busy):
                assert (node["driver"], interfaces(node)) == ("native-ipmi", native), name
        for name in ours:
            result = stack.request("GET", f"/v1/nodes/{listed[name]['uuid']}/validate")
            assert result["power"]["result"] is True, result["power"]
            assert result["management"]["result"] is True, result["management"]
    finally:
        set_column(stack, locked, "reservation", None)
        set_column(stack, busy, "provision_state", "available")

    # The switched node really runs on its new driver: power it on through Ironic.
    ep, uuid = fleet.endpoints[2], listed[ours[0]]["uuid"]
    stack.request("PUT", f"/v1/nodes/{uuid}/states/power", {"target": "power on"})
    stack.wait_for(f"/v1/nodes/{uuid}", lambda n: n["power_state"] == "power on", "power on")
    assert fleet.control.state(ep.key)["power"] == "on"

    # Back to ipmi, only for this fleet's nodes but the last.
    some = tmp_path / "some.jsonl"
    inventory.write(some, fleet.endpoints[:-1])
    out = run_set_driver([stack.conf], "ipmi", names_from=some)
    counts = (out["switched"], out["skipped_locked"], out["skipped_state"], out["unknown_names"])
    assert counts == (7, 0, 0, 0)
    listed = nodes(stack)
    assert listed[names[-1]]["driver"] == "native-ipmi"
    for name in names[:-1]:
        assert (listed[name]["driver"], interfaces(listed[name])) == ("ipmi", ipmi), name
        result = stack.request("GET", f"/v1/nodes/{listed[name]['uuid']}/validate")
        assert result["power"]["result"] is True, result["power"]

    stack.request("PUT", f"/v1/nodes/{uuid}/states/power", {"target": "power off"})
    stack.wait_for(f"/v1/nodes/{uuid}", lambda n: n["power_state"] == "power off", "power off")
    assert fleet.control.state(ep.key)["power"] == "off"


def _fails(config_files: list[Path], *, inventory_path: Path | None = None, driver: str = "ipmi",
           set_driver: bool = False) -> str:
    """Run with bad input; return the one stderr line after checking exit status 2."""
    with pytest.raises(EnrollFailed) as info:
        if set_driver:
            run_set_driver(config_files, driver)
        else:
            run_enroll(config_files, inventory_path, driver)
    lines = info.value.stderr.strip().splitlines()
    assert info.value.returncode == 2, info.value.stderr
    assert len(lines) == 1 and lines[0].startswith("enroll: error: "), info.value.stderr
    return lines[0]


def test_bad_input_is_one_line_and_exit_status_2(stack, tmp_path):
    inv = tmp_path / "inventory.jsonl"
    inventory.write(inv, [inventory.Endpoint("127.0.0.1", 623, "admin", "password")])
    conf = [stack.conf]
    before = len(nodes(stack))

    assert "does not exist" in _fails(conf, inventory_path=tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(inv.read_text() + '{"address": "127.0.0.2"}\n')
    assert f"{bad}:2: bad inventory line" in _fails(conf, inventory_path=bad)
    assert "unknown driver 'redfish'" in _fails(conf, inventory_path=inv, driver="redfish")

    only_ipmi = tmp_path / "only-ipmi.conf"
    only_ipmi.write_text("[DEFAULT]\nenabled_hardware_types = ipmi\n")
    msg = _fails([stack.conf, only_ipmi], inventory_path=inv, driver="native-ipmi")
    assert "'native-ipmi' is not enabled" in msg
    assert "not enabled" in _fails([stack.conf, only_ipmi], driver="native-ipmi", set_driver=True)

    empty_db = tmp_path / "empty-db.conf"
    empty_db.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/empty.sqlite\n")
    assert "no Ironic schema" in _fails([stack.conf, empty_db], inventory_path=inv)
    assert "no Ironic schema" in _fails([stack.conf, empty_db], set_driver=True)

    assert "missing.conf" in _fails([tmp_path / "missing.conf"], inventory_path=inv)
    assert len(nodes(stack)) == before
