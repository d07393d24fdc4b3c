"""The ring prediction against a live cluster: API + 3 conductors on PostgreSQL (json-rpc).

Nodes are created over REST with openstacksdk, as an operator would; the API's
``conductor`` field of each node is Ironic's own routing answer. The
prediction, from the REST API and from the database, must equal it for every
node; with the wrong exponent it must not, and the search must name the right one.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from ironic_scale.sharding import sources
from ironic_scale.stack.processes import Stack, StackSpec

NODES = 120
EXPONENT = 7  # not Ironic's default, so a prediction with defaults must disagree


def conf_args(stack: Stack) -> list[str]:
    return [a for f in stack.config_files() for a in ("--config-file", str(f))]


def ring(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", "ring", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("ring-live")
    base = f"127.{random.randint(161, 170)}.{random.randint(0, 250)}.1"
    stack = Stack(StackSpec(work=work, db="postgresql", conductors=3, conductor_base=base,
                            options={"DEFAULT": {"hash_partition_exponent": str(EXPONENT)}}))
    state = stack.start()
    try:
        conn = sources.connect(endpoint=state.url)
        rng = random.Random(3)
        for i in range(NODES):
            conn.baremetal.create_node(name=f"ring-{i}", driver=rng.choice(["ipmi", "native-ipmi"]),
                                       driver_info={"ipmi_address": "127.0.0.1"})
        yield stack, state
    finally:
        stack.stop()


def test_prediction_from_the_api_equals_the_api(cluster):
    stack, state = cluster
    res = ring("validate", "--endpoint", state.url, *conf_args(stack), "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["exact"] and doc["nodes"] == doc["agree"] == NODES
    assert doc["settings"]["exponent"] == EXPONENT


def test_wrong_settings_disagree_and_the_search_finds_the_real_ones(cluster):
    _stack, state = cluster
    res = ring("validate", "--endpoint", state.url, "--format", "json")
    assert res.returncode == 1, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["differ"] > 0
    assert {"exponent": EXPONENT, "algorithm": "md5", "use_groups": True} in doc["matching_settings"]


def test_prediction_from_the_database_equals_the_api(cluster, tmp_path):
    stack, state = cluster
    owners_csv = tmp_path / "owners.json"
    res = ring("predict", "--db", *conf_args(stack), "--format", "json",
               "--out", str(owners_csv))
    assert res.returncode == 0, res.stderr
    predicted = json.loads(owners_csv.read_text())["owners"]
    api = {n.id: n.conductor for n in sources.connect(endpoint=state.url).baremetal.nodes(details=True)}
    assert predicted == api and len(api) == NODES
    assert len(set(api.values())) == 3  # every conductor owns some nodes
