"""Export files in the formats operators have: API JSON, `baremetal -f json` titles, CSV, JSON lines."""

import json

import pytest

from ironic_scale.sharding import sources

U1, U2 = "8a3c9a39-3d2e-4a0e-9f4e-2f1d5a3c0b11", "1b8d0e9c-77aa-4c55-8a22-93f0c4d1e2a3"


def test_baremetal_cli_titles_are_understood(tmp_path):
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps([
        {"UUID": U1, "Driver": "ipmi", "Conductor Group": "Rack1", "Provisioning State": "active",
         "Maintenance": False, "Conductor": "c1"},
        {"UUID": U2.upper(), "Driver": "ipmi", "Conductor Group": "", "Provisioning State": "available",
         "Maintenance": "True"}]))
    conductors = tmp_path / "conductors.csv"
    conductors.write_text("Hostname,Conductor Group,Alive,Drivers\n"
                          "c1,rack1,True,ipmi;redfish\nc2,,false,ipmi\n")
    cluster = sources.from_files(nodes, conductors)
    assert [c.name for c in cluster.conductors] == ["c1", "c2"]
    assert cluster.conductors[0].hardware_types == {"ipmi", "redfish"} and not cluster.conductors[1].alive
    n1, n2 = cluster.nodes
    assert (n1.conductor_group, n1.provision_state, n1.conductor) == ("rack1", "active", "c1")
    assert n2.uuid == U2 and n2.maintenance


def test_one_document_and_json_lines(tmp_path):
    doc = tmp_path / "cluster.json"
    doc.write_text(json.dumps({"conductors": [{"hostname": "c1", "hardware_types": ["ipmi"]}],
                               "nodes": [{"uuid": U1, "driver": "ipmi"}]}))
    cluster = sources.from_files(doc)
    assert len(cluster.conductors) == 1 and len(cluster.nodes) == 1
    jl = tmp_path / "nodes.jsonl"
    jl.write_text(json.dumps({"uuid": U1, "driver": "ipmi"}) + "\n\n"
                  + json.dumps({"uuid": U2, "driver": "x"}))
    assert [n.driver for n in sources.from_files(jl).nodes] == ["ipmi", "x"]


@pytest.mark.parametrize("content, message", [
    ("uuid,driver\nnot-a-uuid,ipmi\n", "nodes.csv:2: field uuid"),
    (f"uuid,driver\n{U1},\n", "nodes.csv:2: node " + U1 + ": field driver is empty"),
    (f"uuid,driver,maintenance\n{U1},ipmi,maybe\n", "nodes.csv:2: maintenance: not a boolean"),
    (f"uuid,driver\n{U1},ipmi\n{U1},ipmi\n", "listed twice"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "nodes.csv"
    path.write_text(content)
    with pytest.raises(sources.SourceError, match=message.replace(".", r"\.")):
        sources.from_files(path)


def test_unreadable_and_broken_json(tmp_path):
    with pytest.raises(sources.SourceError, match="No such file"):
        sources.from_files(tmp_path / "missing.json")
    bad = tmp_path / "n.jsonl"
    bad.write_text(json.dumps({"uuid": U1, "driver": "ipmi"}) + '\n{broken\n')
    with pytest.raises(sources.SourceError, match=r"n\.jsonl:2: not JSON"):
        sources.from_files(bad)
