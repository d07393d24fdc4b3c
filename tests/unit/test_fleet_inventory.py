"""``fleet import``'s inventory: CSV and JSON lines, every check with its line and field, duplicates,
the simulator's own inventory format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ironic_scale.fleet import inventory
from ironic_scale.fleet.errors import FleetError
from ironic_scale.sim import inventory as sim_inventory

HEADER = "name,address,port,username,password,macs,running,resource_class,cpus,memory_mb,local_gb,cpu_arch\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(inv: inventory.Inventory) -> set[tuple[int, str]]:
    return {(p.line, p.field) for p in inv.problems}


def test_csv_rows_become_node_specs_with_ironic_values(tmp_path):
    path = write(tmp_path, "fleet.csv", HEADER
                 + "r1-n1,10.0.0.1,623,admin,s3cret,AA:BB:CC:00:00:01;aa:bb:cc:00:00:02,false,gold,16,65536,"
                   "400,x86_64\n"
                 + 'r1-n2,bmc-2.example.com,6230,root,pw,"aa:bb:cc:00:00:03 aa:bb:cc:00:00:04",yes,,,,,\n')
    inv = inventory.read(path)
    assert inv.problems == [] and inv.rows == 2
    a, b = inv.nodes
    assert (a.line, a.name, a.address, a.port, a.username, a.running, a.target) == (
        2, "r1-n1", "10.0.0.1", 623, "admin", False, "available")
    assert a.macs == ("aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02")  # lower case, as Ironic stores them
    assert a.resource_class == "gold" and a.driver == "ipmi"
    assert a.properties == {"cpus": 16, "memory_mb": 65536, "local_gb": 400, "cpu_arch": "x86_64"}
    assert a.driver_info() == {"ipmi_address": "10.0.0.1", "ipmi_port": 623, "ipmi_username": "admin",
                               "ipmi_password": "s3cret"}
    assert (b.address, b.port, b.running, b.target, b.properties) == (
        "bmc-2.example.com", 6230, True, "active", {})
    assert b.macs == ("aa:bb:cc:00:00:03", "aa:bb:cc:00:00:04")
    assert "s3cret" not in repr(a)  # never in a log line or traceback


def test_json_lines_with_ironic_field_names_and_a_properties_object(tmp_path):
    rows = [{"name": "n1", "ipmi_address": "10.0.0.1", "ipmi_port": 624, "ipmi_username": "u",
             "ipmi_password": "p", "mac_addresses": ["aa:bb:cc:00:00:01"], "running": False,
             "properties": {"cpus": 4, "capabilities": "boot_mode:uefi"}, "memory_mb": 1024,
             "driver": "native-ipmi", "conductor_group": "Rack-1", "automated_clean": "false"}]
    path = write(tmp_path, "fleet.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    (node,) = inventory.read(path).nodes
    assert node.driver_info() == {"ipmi_address": "10.0.0.1", "ipmi_port": 624, "ipmi_username": "u",
                                  "ipmi_password": "p"}
    assert node.properties == {"cpus": 4, "capabilities": "boot_mode:uefi", "memory_mb": 1024}
    assert (node.driver, node.conductor_group, node.automated_clean) == ("native-ipmi", "rack-1", False)


def test_the_simulators_inventory_imports_as_is(tmp_path):
    path = tmp_path / "inventory.jsonl"
    sim_inventory.write(path, [sim_inventory.Endpoint("127.181.0.1", 623, "admin", "password", "off"),
                               sim_inventory.Endpoint("127.181.0.2", 623, "admin", "password", "on",
                                                      dead=True)])
    inv = inventory.read(path, default_driver="native-ipmi")
    assert inv.problems == []
    idle, running = inv.nodes
    assert (idle.name, idle.running, idle.macs) == ("node-127.181.0.1-623", False, ())
    assert idle.driver == "native-ipmi"
    assert (running.name, running.running) == ("node-127.181.0.2-623", True)  # power "on": adopted


def test_running_wins_over_power_and_one_of_them_is_required(tmp_path):
    path = write(tmp_path, "f.jsonl", "\n".join(json.dumps(r) for r in [
        {"address": "10.0.0.1", "password": "p", "power": "on", "running": False},
        {"address": "10.0.0.2", "password": "p"},
        {"address": "10.0.0.3", "password": "p", "power": "sleeping"},
    ]) + "\n")
    inv = inventory.read(path)
    assert [n.running for n in inv.nodes] == [False]
    assert problems(inv) == {(2, "running"), (3, "power")}
    assert "whether the machine runs a workload" in inv.problems[0].message


@pytest.mark.parametrize("column,value,field,why", [
    ("address", "", "address", "missing"),
    ("address", "10.0.0.256", "address", "not an IP address or host name"),
    ("address", "bad_host!", "address", "not an IP address or host name"),
    ("port", "0", "port", "1-65535"),
    ("port", "65536", "port", "1-65535"),
    ("port", "six", "port", "not a whole number"),
    ("username", "u" * 17, "username", "longer than 16 bytes"),
    ("password", "p" * 21, "password", "longer than 20 bytes"),
    ("password", "", "password", "missing"),
    ("macs", "aa:bb:cc:dd:ee", "macs", "not a MAC address"),
    ("macs", "aa-bb-cc-dd-ee-ff", "macs", "not a MAC address"),
    ("macs", "aa:bb:cc:dd:ee:ff;AA:BB:CC:DD:EE:FF", "macs", "listed twice"),
    ("name", "has space", "name", "not a valid node name"),
    ("name", "12345678-1234-5678-1234-567812345678", "name", "must not look like a UUID"),
    ("running", "maybe", "running", "not true or false"),
    ("cpus", "-1", "cpus", "not a whole number"),
    ("memory_mb", "lots", "memory_mb", "not a whole number"),
    ("resource_class", "r" * 81, "resource_class", "longer than 80"),
    ("properties", "{not json", "properties", "not a JSON object"),
    ("properties", "[1, 2]", "properties", "must be a JSON object"),
    ("properties", '{"cpus": 8}', "cpus", "in properties but"),
    ("driver", "redfish", "driver", "must be one of ipmi, native-ipmi"),
    ("conductor_group", "rack 1", "conductor_group", "not a conductor group"),
    ("automated_clean", "sometimes", "automated_clean", "not true or false"),
])
def test_each_bad_value_is_named_by_line_and_field(tmp_path, column, value, field, why):
    good = {"name": "n1", "address": "10.0.0.1", "port": "623", "username": "admin", "password": "pw",
            "macs": "aa:bb:cc:dd:ee:01", "running": "false", "cpus": "4", "properties": "",
            "driver": "", "conductor_group": "", "automated_clean": "", "memory_mb": "",
            "resource_class": ""}
    bad = {**good, column: value}
    header = ",".join(good)
    text = header + "\n" + ",".join(f'"{v}"' for v in good.values()).replace('"n1"', '"n0"').replace(
        "ee:01", "ee:00").replace("10.0.0.1", "10.0.0.9") + "\n" + ",".join(
        '"' + v.replace('"', '""') + '"' for v in bad.values()) + "\n"
    inv = inventory.read(write(tmp_path, "f.csv", text))
    assert [n.line for n in inv.nodes] == [2]  # the good row is still read
    assert len(inv.problems) == 1, inv.problems
    (p,) = inv.problems
    assert (p.line, p.field) == (3, field)
    assert why in p.message
    assert str(p).startswith(f"line 3: {field}: ")


def test_every_problem_of_every_row_is_reported_not_just_the_first(tmp_path):
    path = write(tmp_path, "f.csv", HEADER
                 + "n1,10.0.0.1,0,admin,pw,zz,maybe,,x,,,\n"
                 + "n2,10.0.0.2,623,admin,pw,,false,,,,,\n"
                 + "n3,,623,admin,,,false,,,,,\n")
    inv = inventory.read(path)
    assert problems(inv) == {(2, "port"), (2, "macs"), (2, "running"), (2, "cpus"),
                             (4, "address"), (4, "password")}
    assert [n.name for n in inv.nodes] == ["n2"] and inv.bad_lines == [2, 4]


def test_duplicates_within_the_file_mark_every_row_involved(tmp_path):
    path = write(tmp_path, "f.csv", HEADER
                 + "a,10.0.0.1,623,u,p,aa:bb:cc:00:00:01,false,,,,,\n"
                 + "A,10.0.0.2,623,u,p,aa:bb:cc:00:00:02,false,,,,,\n"  # same name, other case
                 + "b,10.0.0.3,623,u,p,AA:BB:CC:00:00:01,false,,,,,\n"  # MAC of line 2
                 + "c,10.0.0.1,623,u,p,,false,,,,,\n"  # BMC of line 2
                 + "d,10.0.0.1,624,u,p,,false,,,,,\n")  # same address, other port: fine
    inv = inventory.read(path)
    assert problems(inv) == {(2, "name"), (3, "name"), (2, "macs"), (4, "macs"), (2, "address"),
                             (5, "address")}
    assert [n.name for n in inv.nodes] == ["d"]
    by = {(p.line, p.field): p.message for p in inv.problems}
    assert by[3, "name"] == "name a is also on line 2"
    assert by[2, "address"] == "BMC 10.0.0.1:623 is also on line 5"
    assert by[4, "macs"] == "MAC aa:bb:cc:00:00:01 is also on line 2"


def test_default_names_and_equivalent_addresses_clash(tmp_path):
    path = write(tmp_path, "f.jsonl", "\n".join(json.dumps(r) for r in [
        {"address": "fd00::1", "password": "p", "running": False},
        {"address": "FD00:0::1", "port": 623, "password": "p", "running": False},
    ]) + "\n")
    inv = inventory.read(path)
    assert problems(inv) == {(1, "name"), (2, "name"), (1, "address"), (2, "address")}
    messages = {p.message for p in inv.problems}
    assert "name node-fd00--1-623 is also on line 2" in messages
    assert "BMC [fd00::1]:623 is also on line 1" in messages


def test_unreadable_rows_and_unknown_columns(tmp_path):
    path = write(tmp_path, "f.jsonl", '{"address": "10.0.0.1", "password": "p", "running": false}\n'
                                      "not json\n\n[1, 2]\n"
                                      '{"address": "10.0.0.2", "password": "p", "running": 0, "runing": 1}\n'
                                      '{"address": "10.0.0.3", "password": "p", "running": 0, '
                                      '"ipmi_password": "q"}\n')
    inv = inventory.read(path)
    assert problems(inv) == {(2, "-"), (4, "-"), (5, "runing"), (6, "ipmi_password")}
    assert [n.line for n in inv.nodes] == [1]
    msgs = {p.line: p.message for p in inv.problems}
    assert msgs[2].startswith("not JSON") and "must be an object" in msgs[4]
    assert "unknown field" in msgs[5] and "given twice" in msgs[6]


def test_csv_with_more_values_than_columns_and_json_types(tmp_path):
    path = write(tmp_path, "f.csv", "address,password,running\n10.0.0.1,p,false,extra\n")
    assert problems(inventory.read(path)) == {(2, "-")}
    path = write(tmp_path, "g.jsonl", json.dumps({"address": "10.0.0.1", "password": 1234, "running": True,
                                                  "port": True, "macs": [1]}) + "\n")
    assert problems(inventory.read(path)) == {(1, "password"), (1, "port"), (1, "macs")}


def test_a_file_without_rows_or_unreadable_is_an_operator_error(tmp_path):
    with pytest.raises(FleetError, match="has no nodes"):
        inventory.read(write(tmp_path, "empty.jsonl", "\n\n"))
    with pytest.raises(FleetError, match="cannot read inventory"):
        inventory.read(tmp_path / "missing.csv")
    with pytest.raises(FleetError, match="has no nodes"):
        inventory.read(write(tmp_path, "h.csv", HEADER))


def test_format_is_chosen_by_suffix_then_by_content(tmp_path):
    row = '{"address": "10.0.0.1", "password": "p", "running": false}\n'
    assert len(inventory.read(write(tmp_path, "inv.txt", row)).nodes) == 1
    assert len(inventory.read(write(tmp_path, "inv", "address,password,running\n10.0.0.1,p,0\n")).nodes) == 1
    with pytest.raises(FleetError, match="has no nodes"):  # a .csv is CSV: that line is its header
        inventory.read(write(tmp_path, "inv.csv", row))
