"""`ironic-scale ring ...` end to end in-process: outputs, files written, exit codes, one-line errors."""

import csv
import io
import json
import random
import uuid

import pytest

from ironic_scale.cli import main
from ironic_scale.sharding.model import Cluster, Conductor, Node, RingSettings
from ironic_scale.sharding.ring import predict


@pytest.fixture
def cluster_file(tmp_path):
    rng = random.Random(7)
    nodes = [{"uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "driver": "ipmi",
              "provision_state": "active"} for _ in range(1000)]
    conductors = [{"hostname": n, "hardware_types": ["ipmi"]} for n in ("h1", "h1:8090", "h2", "h2:8090")]
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"conductors": conductors, "nodes": nodes}))
    return path


def test_balance_json(cluster_file, capsys):
    assert main(["ring", "balance", "--cluster", str(cluster_file), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["per_machine"].keys() == {"h1", "h2"} and sum(doc["per_machine"].values()) == 1000
    assert doc["recommendation"]["exponent"] in range(5, 11)


def test_balance_table_and_predict_csv(cluster_file, tmp_path, capsys):
    assert main(["ring", "balance", "--cluster", str(cluster_file), "--exponent", "7"]) == 0
    out = capsys.readouterr().out
    assert "hash_partition_exponent=7" in out and "per host" in out and "recommended exponent" in out
    dest = tmp_path / "owners.csv"
    assert main(["ring", "predict", "--cluster", str(cluster_file), "--out", str(dest)]) == 0
    rows = list(csv.DictReader(io.StringIO(dest.read_text())))
    assert len(rows) == 1000 and {r["conductor"] for r in rows} == {"h1", "h1:8090", "h2", "h2:8090"}


def test_members_from_the_command_line(cluster_file, capsys):
    nodes = json.loads(cluster_file.read_text())["nodes"]
    cluster_file.write_text(json.dumps(nodes))
    assert main(["ring", "predict", "--nodes", str(cluster_file), "--member", "a", "--member", "b",
                 "--format", "json", "--algorithm", "sha256"]) == 0
    owners = json.loads(capsys.readouterr().out)["owners"]
    expected = predict(Cluster([Conductor("a", "", {"ipmi"}), Conductor("b", "", {"ipmi"})],
                               [Node(n["uuid"], "ipmi") for n in nodes]), RingSettings(algorithm="sha256"))
    assert owners == expected


def test_plan_writes_json(cluster_file, tmp_path, capsys):
    dest = tmp_path / "plan.json"
    assert main(["ring", "plan", "--cluster", str(cluster_file), "--change", "lose-host=h2",
                 "--out", str(dest)]) == 0
    assert "nodes moved:" in capsys.readouterr().out
    plan = json.loads(dest.read_text())
    assert plan["after"]["conductors"] == ["h1", "h1:8090"] and plan["moved"] == plan["moved_active"] > 0


def test_plan_reads_intervals_from_a_config_file(cluster_file, tmp_path, capsys):
    conf = tmp_path / "ironic.conf"
    conf.write_text("[conductor]\nperiodic_max_workers = 1000\nsync_local_state_interval = 60\n")
    assert main(["ring", "plan", "--cluster", str(cluster_file), "--change", "remove=h1",
                 "--config-file", str(conf), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["takeover_seconds"] == 60


def test_validate_exit_codes(cluster_file, capsys):
    doc = json.loads(cluster_file.read_text())
    cluster = Cluster([Conductor(c["hostname"], "", {"ipmi"}) for c in doc["conductors"]],
                      [Node(n["uuid"], "ipmi") for n in doc["nodes"]])
    owners = predict(cluster, RingSettings(6, "sha1"))
    for n in doc["nodes"]:
        n["conductor"] = owners[n["uuid"]]
    cluster_file.write_text(json.dumps(doc))
    assert main(["ring", "validate", "--cluster", str(cluster_file)]) == 1
    out = capsys.readouterr().out
    assert "the API's answers match: exponent 6, algorithm sha1" in out
    assert main(["ring", "validate", "--cluster", str(cluster_file), "--exponent", "6",
                 "--algorithm", "sha1"]) == 0


def test_export_round_trip(cluster_file, tmp_path, capsys):
    dest = tmp_path / "export.json"
    assert main(["ring", "export", "--cluster", str(cluster_file), "--out", str(dest)]) == 0
    assert main(["ring", "predict", "--cluster", str(dest), "--format", "json"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    (["ring", "balance"], "say where the cluster comes from"),
    (["ring", "balance", "--nodes", "/nonexistent.csv", "--member", "a"], "No such file"),
    (["ring", "balance", "--cluster", "CLUSTER", "--algorithm", "shake_128"], "tooz cannot hash"),
    (["ring", "balance", "--cluster", "CLUSTER", "--algorithm", "nosuch"], "nosuch"),
    (["ring", "plan", "--cluster", "CLUSTER", "--change", "remove=zz"], "no conductor named zz"),
    (["ring", "validate", "--cluster", "CLUSTER"], "compares with the API's conductor field"),
    (["ring", "balance", "--db"], "--db needs --config-file"),
])
def test_bad_input_is_one_line_and_exit_2(cluster_file, capsys, args, message):
    args = [str(cluster_file) if a == "CLUSTER" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
