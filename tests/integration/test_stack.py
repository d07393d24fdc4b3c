"""``ironic-scale stack``: a real Ironic API with two conductors on PostgreSQL, driven by the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from ironic_scale.stack import postgres
from ironic_scale.stack.processes import Stack
from ironic_scale.stack.rest import IronicClient


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", "stack", *args],
                          capture_output=True, text=True, timeout=300)


def test_two_conductors_on_postgresql_share_the_nodes(tmp_path, fleet_factory):
    work = tmp_path / "stack"
    base = f"127.{random.randint(121, 140)}.{random.randint(0, 250)}.1"
    up = cli("up", "--work", str(work), "--db", "postgresql", "--conductors", "2",
             "--conductor-address", base, "--api-port", "0")
    assert up.returncode == 0, up.stderr
    try:
        started = json.loads(up.stdout)
        assert set(started["processes"]) == {"api", "conductor-1", "conductor-2"}
        client = IronicClient(started["url"])
        hosts = sorted(client.alive_conductors())
        assert hosts == sorted([base, base[:-1] + "2"])
        # Each conductor has its own config: its own [DEFAULT]host and json-rpc address.
        for name, host in (("conductor-1", base), ("conductor-2", base[:-1] + "2")):
            text = (work / f"{name}.conf").read_text()
            assert f"host = {host}" in text and "rpc_transport = json-rpc" in text

        fleet = fleet_factory(24)
        enrolled = cli("enroll", "--work", str(work), "--inventory", fleet.inventory_path,
                       "--driver", "native-ipmi")
        assert enrolled.returncode == 0, enrolled.stderr
        assert json.loads(enrolled.stdout)["created"] == 24
        # Ironic's hash ring gives every conductor a share of the nodes.
        owners = Counter(n["conductor"] for n in client.nodes())
        assert sum(owners.values()) == 24 and set(owners) == set(hosts), owners

        status = cli("status", "--work", str(work))
        assert status.returncode == 0 and all(json.loads(status.stdout)["running"].values())
    finally:
        down = cli("down", "--work", str(work), "--drop-db")
    assert down.returncode == 0, down.stderr
    db_name = Stack.attach(work).state.db_name
    assert db_name and not postgres.database_exists(db_name)
    status = cli("status", "--work", str(work))
    assert status.returncode == 1
    assert not any(json.loads(status.stdout)["running"].values())
    assert not any(Stack.attach(work).running().values())


@pytest.mark.parametrize("args, message", [
    (("--conductors", "2"), "several conductors need --db postgresql"),
    (("--conductor-address", "10.0.0.1"), "must stay in 127.0.0.0/8"),
])
def test_bad_stack_settings_are_refused_in_one_line(tmp_path, args, message):
    res = cli("up", "--work", str(tmp_path / "w"), *args)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_down_without_a_stack_says_so(tmp_path):
    res = cli("down", "--work", str(tmp_path))
    assert res.returncode == 2 and "no stack was started there" in res.stderr

