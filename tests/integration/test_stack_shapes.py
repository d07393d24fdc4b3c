"""The production shape: MariaDB, RabbitMQ, several host addresses with several conductors each.

Real servers throughout: the stack's private MariaDB and RabbitMQ (with its own
epmd), Debian's PostgreSQL, Ironic's API and conductors, the BMC simulator.
Conductor names are checked against ``ironic_scale.sharding.names.host_instances``,
which restates how Ironic names a conductor, and power actions go through the API's
RPC to the conductor that owns each node, then to the simulated BMC.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ironic_scale.sharding import names
from ironic_scale.stack import enroll, postgres, rabbitmq
from ironic_scale.stack.processes import (
    Stack,
    StackSpec,
    children,
    conductor_hosts,
    first_json_rpc_port,
    process_alive,
)
from ironic_scale.stack.rest import IronicClient

EPMD_DEFAULT_PORT = 4369


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", "stack", *args],
                          capture_output=True, text=True, timeout=300)


def base_address() -> str:
    """A random first host address in 127.124.0.0/16 (other tests use other /16s)."""
    return f"127.124.{random.randint(0, 250)}.1"


alive = process_alive


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (erl_child_setup leaves the broker's session)."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += children(p)
    return out


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains ``text`` (the work directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive(int(entry)):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry}: {cmdline[:200]}")
    return found


def expected_names(base: str, hosts: int, per_host: int, rpc_transport: str, first_port: int) -> list[str]:
    return [i.name for m in conductor_hosts(base, hosts)
            for i in names.host_instances(m, per_host, rpc_transport, first_port)]


def conductor_queues(state) -> dict[str, int]:
    """RabbitMQ's ironic.conductor_manager.* queues and their consumers, from rabbitmqctl."""
    out = subprocess.run([rabbitmq.ctl_command(), "list_queues", "-q", "name", "consumers"],
                         env={**os.environ, **state.rabbitmqctl_env},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    prefix = "ironic.conductor_manager."
    return {name[len(prefix):]: int(n) for name, n in (line.split() for line in out.splitlines())
            if name.startswith(prefix)}


def assert_ring_prediction_exact(url: str, config_files: list[str], nodes: int) -> None:
    """`ironic-scale ring validate`: the prediction equals the API's conductor field for every node."""
    conf = [a for f in config_files for a in ("--config-file", str(f))]
    res = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "ring", "validate", "--endpoint", url,
                          *conf, "--format", "json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["exact"] and doc["agree"] == doc["nodes"] == nodes


def power_on_all(client: IronicClient, fleet) -> dict[str, str]:
    """Power every node on through the API (RPC to its conductor); returns node -> conductor."""
    nodes = list(client.nodes())
    assert len(nodes) == len(fleet.endpoints)
    for node in nodes:
        client.request("PUT", f"/v1/nodes/{node['uuid']}/states/power", {"target": "power on"})
    for node in nodes:
        client.wait_for(f"/v1/nodes/{node['uuid']}", lambda n: n["power_state"] == "power on",
                        f"{node['name']} power on", timeout=60)
    assert all(fleet.control.state(ep.key)["power"] == "on" for ep in fleet.endpoints)
    return {n["name"]: n["conductor"] for n in nodes}


def test_mariadb_and_rabbitmq_with_two_conductors_on_each_of_two_hosts(tmp_path, fleet_factory):
    work = tmp_path / "stack"
    base = base_address()
    epmd_before = listening(EPMD_DEFAULT_PORT)
    up = cli("up", "--work", str(work), "--db", "mariadb", "--rpc", "rabbit", "--hosts", "2",
             "--per-host", "2", "--conductor-address", base, "--api-port", "0")
    assert up.returncode == 0, up.stderr
    started = json.loads(up.stdout)
    state = Stack.attach(work).state
    try:
        want = expected_names(base, 2, 2, "oslo", names.DEFAULT_JSON_RPC_PORT)
        assert want == [base, base + "-2", base[:-1] + "2", base[:-1] + "2-2"]
        assert list(started["conductors"].values()) == want
        assert set(started["processes"]) == {"epmd", "rabbitmq", "mariadb", "api", *started["conductors"]}
        print(f"\nstart seconds (MariaDB + RabbitMQ, 2 x 2): {started['seconds']}")
        client = IronicClient(started["url"])
        assert sorted(client.alive_conductors()) == sorted(want)
        # oslo.messaging: one queue per conductor, named after its [DEFAULT]host.
        assert conductor_queues(state) == {name: 1 for name in want}

        # stack.json: each conductor's registered name, host address and config files.
        conductors = [p for p in state.processes if p.role == "conductor"]
        assert [p.registered_name for p in conductors] == want
        assert [p.machine for p in conductors] == [base, base, base[:-1] + "2", base[:-1] + "2"]
        for p in conductors:
            assert all(Path(f).is_file() for f in p.config_files)
            text = Path(p.config_files[0]).read_text()
            assert f"host = {p.registered_name}\n" in text and "rpc_transport = oslo\n" in text
            assert f"transport_url = {state.transport_url}\n" in text
            assert state.db_url.startswith("mysql+pymysql://") and f"connection = {state.db_url}\n" in text
            assert f"source_address = {p.source_address}\n" in text
        # Every conductor's IPMI traffic has its own address, so the simulator tells them apart.
        assert len({p.source_address for p in conductors}) == 4

        fleet = fleet_factory(16)
        enrolled = cli("enroll", "--work", str(work), "--inventory", fleet.inventory_path,
                       "--driver", "native-ipmi")
        assert enrolled.returncode == 0, enrolled.stderr
        assert json.loads(enrolled.stdout)["created"] == 16
        owners = power_on_all(client, fleet)
        assert set(owners.values()) <= set(want), owners
        # Names with host-2 (oslo.messaging) on MariaDB: the ring prediction is exact.
        assert_ring_prediction_exact(started["url"], conductors[0].config_files, 16)

        # Everything the stack started, down to the broker's helpers, while it runs.
        pids = set().union(*(descendants(p.pid) for p in state.processes))
        assert all(alive(p) for p in pids)
        ports = {"mariadb": int(state.db_url.split("@127.0.0.1:")[1].split("/")[0]),
                 "amqp": int(state.transport_url.rsplit(":", 1)[1].strip("/")),
                 "epmd": int(state.rabbitmqctl_env["ERL_EPMD_PORT"])}
        assert all(listening(p) for p in ports.values()), ports
    finally:
        down = cli("down", "--work", str(work), "--drop-db")
    assert down.returncode == 0, down.stderr
    assert not [p for p in pids if alive(p)], [(p, processes_mentioning(str(p))) for p in pids if alive(p)]
    assert not processes_mentioning(str(work))
    assert not any(listening(p) for p in ports.values()), ports
    assert listening(EPMD_DEFAULT_PORT) == epmd_before  # no system-wide epmd left behind
    assert not Path(state.db_dir).exists()  # --drop-db: MariaDB's data directory is gone
    assert not any(Stack.attach(work).running().values())


def test_postgresql_and_json_rpc_with_two_conductors_per_host(tmp_path, fleet_factory):
    base = base_address()
    spec = StackSpec(work=tmp_path / "stack", db="postgresql", hosts=2, per_host=2, conductor_base=base)
    assert spec.conductors == 4
    with Stack(spec) as stack:
        state = stack.start()
        print(f"\nstart seconds (PostgreSQL + json-rpc, 2 x 2): {state.seconds}")
        first = state.json_rpc_port
        want = expected_names(base, 2, 2, "json-rpc", first)
        # 8089 free: the first conductor of each host keeps the plain name; the second is host:8090.
        if first == names.DEFAULT_JSON_RPC_PORT:
            assert want == [base, f"{base}:8090", base[:-1] + "2", base[:-1] + "2:8090"]
        assert [p.registered_name for p in stack.conductors] == want
        assert sorted(stack.client.alive_conductors()) == sorted(want)
        for p in stack.conductors:
            text = Path(p.config_files[0]).read_text()
            assert f"host = {p.machine}\n" in text and f"host_ip = {p.machine}\n" in text
            assert f"port = {p.json_rpc_port}\n" in text and "rpc_transport = json-rpc\n" in text

        fleet = fleet_factory(16)
        out = enroll.run_enroll(stack.config_files(), Path(fleet.inventory_path), "native-ipmi")
        assert out["created"] == 16
        owners = power_on_all(stack.client, fleet)
        assert set(owners.values()) <= set(want), owners
        # Names with :port (json-rpc, two per host): the ring prediction is exact.
        assert_ring_prediction_exact(state.url, stack.conductors[0].config_files, 16)
        db_name = state.db_name
    assert not any(stack.running().values())
    stack.drop_database()
    assert not postgres.database_exists(db_name)


@pytest.mark.parametrize("kwargs, shape", [
    ({"conductors": 3, "db": "postgresql"}, (3, 1, 3)),  # N alone: N hosts x 1, as before
    ({"hosts": 2, "per_host": 3, "db": "mariadb"}, (2, 3, 6)),
    ({"conductors": 6, "per_host": 2, "db": "mariadb"}, (3, 2, 6)),
    ({"per_host": 4, "db": "postgresql", "rpc": "rabbit"}, (1, 4, 4)),
    ({}, (1, 1, 1)),
])
def test_conductor_counts(tmp_path, kwargs, shape):
    spec = StackSpec(work=tmp_path, **kwargs)
    assert (spec.hosts, spec.per_host, spec.conductors) == shape


@pytest.mark.parametrize("args, message", [
    (("--per-host", "2"), "several conductors need --db postgresql or --db mariadb"),
    (("--rpc", "rabbit"), "--rpc rabbit needs --db postgresql or --db mariadb"),
    (("--db", "mariadb", "--conductors", "5", "--per-host", "2"),
     "5 conductors do not split into 2 per host"),
    (("--db", "mariadb", "--conductors", "3", "--hosts", "2"), "3 conductors but 2 hosts x 1 per host"),
])
def test_bad_shapes_are_refused_in_one_line(tmp_path, args, message):
    res = cli("up", "--work", str(tmp_path / "w"), *args)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_json_rpc_ports_step_around_a_port_in_use():
    machines = conductor_hosts(base_address(), 2)
    with socket.socket() as held:
        held.bind((machines[1], names.DEFAULT_JSON_RPC_PORT + 1))  # the second instance's 8090
        held.listen()
        first = first_json_rpc_port(machines, 2)
        assert first != names.DEFAULT_JSON_RPC_PORT
        for m in machines:
            for port in (first, first + 1):
                with socket.socket() as s:
                    s.bind((m, port))  # free on every address
    assert first_json_rpc_port(machines, 2) == names.DEFAULT_JSON_RPC_PORT  # once 8090 is free again
