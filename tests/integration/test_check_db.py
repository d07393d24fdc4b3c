"""``ironic-scale check --db`` against a real PostgreSQL database with Ironic's schema.

``ironic-dbsync create_schema`` makes the tables; conductor, hardware-interface and
node rows are then written with SQL, with timestamps relative to the server's clock,
so that some conductors are alive, silent, offline, ahead or late, and some nodes are
locked by the dead or served by nobody. Ironic's own DB API (run in a subprocess
with the same config) is the oracle for who is alive and which ring keys exist.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from ironic_scale.stack import postgres
from ironic_scale.stack.processes import tool

C = [f"127.121.{random.randint(1, 250)}.{i}" for i in range(1, 6)]  # conductor names (loopback, never bound)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    name = f"ironic_scale_check_{random.randrange(16 ** 8):08x}"
    url = postgres.fresh_database(name)
    work = tmp_path_factory.mktemp("check-db")
    conf = work / "schema.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    schema = subprocess.run([tool("ironic-dbsync"), "--config-file", str(conf), "create_schema"],
                            capture_output=True, text=True, timeout=300)
    assert schema.returncode == 0, schema.stderr[-2000:]
    yield url, work
    postgres.drop_database(name)


def _sql(url: str, statements: list[str]) -> None:
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE nodes, conductor_hardware_interfaces, conductors RESTART IDENTITY CASCADE")
            for s in statements:
                cur.execute(s)
    finally:
        conn.close()


NOW = "(now() AT TIME ZONE 'UTC')"


def conductor(cid: int, host: str, age: int, online: bool = True, group: str = "",
              hardware: tuple[str, ...] = ("ipmi",)) -> list[str]:
    """A conductors row whose last heartbeat was ``age`` seconds ago (negative: in the future)."""
    out = [f"INSERT INTO conductors (id, hostname, conductor_group, online, drivers, created_at, "
           f"updated_at) VALUES ({cid}, '{host}', '{group}', {online}, '[]', {NOW} - interval '1 day', "
           f"{NOW} - interval '{age} seconds')"]
    for hw in hardware:
        out.append(f"INSERT INTO conductor_hardware_interfaces (conductor_id, hardware_type, "
                   f"interface_type, interface_name, \"default\", created_at) "
                   f"VALUES ({cid}, '{hw}', 'power', 'ipmitool', true, {NOW})")
    return out


def node(n: int, driver: str = "ipmi", group: str = "", reservation: str | None = None,
         locked_for: int = 0) -> str:
    held = f"'{reservation}'" if reservation else "NULL"
    return (f"INSERT INTO nodes (uuid, driver, conductor_group, reservation, created_at, updated_at) VALUES "
            f"('00000000-0000-4000-8000-{n:012d}', '{driver}', '{group}', {held}, {NOW} - interval '1 day', "
            f"{NOW} - interval '{locked_for} seconds')")


def configs(url: str, work: Path, hosts: list[str], **database: object) -> list[str]:
    args = []
    for i, host in enumerate(hosts, 1):
        extra = "".join(f"{k} = {v}\n" for k, v in database.items())
        path = work / f"conductor-{i}.conf"
        path.write_text(f"[DEFAULT]\nhost = {host}\nrpc_transport = json-rpc\nhash_partition_exponent = 7\n"
                        f"enabled_hardware_types = ipmi\n[database]\nconnection = {url}\n{extra}")
        args += ["--conductor", str(path)]
    return args


def check(args: list[str]) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "check", *args, "--db",
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1, 2) and proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def results(doc: dict, name: str) -> list[tuple[str, str]]:
    return [(c["code"], c["details"]) for c in doc["checks"] if c["check"] == name]


def near(expected: int, pattern: str, text: str, slack: int = 10) -> bool:
    """The number ``pattern`` captures is ``expected`` plus the seconds the test took (0..slack)."""
    import re

    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in {text!r}"
    low, high = sorted((expected, expected + slack))
    return low <= int(m.group(1)) <= high


def ironic_view(conf: str) -> dict:
    """Ironic's own DB API on the same database: alive, offline, and the ring keys."""
    script = (
        "import json, sys\n"
        "from ironic.common import service\n"
        "from ironic.db import api\n"
        "service.prepare_command(['x', '--config-file', sys.argv[1]])\n"
        "db = api.get_instance()\n"
        "keys = db.get_active_hardware_type_dict(use_groups=True)\n"
        "print(json.dumps({'online': sorted(db.get_online_conductors()),\n"
        "                  'offline': sorted(db.get_offline_conductors()),\n"
        "                  'keys': {k: sorted(v) for k, v in keys.items()}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, conf], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_healthy_database_passes_every_db_check(database):
    url, work = database
    _sql(url, [*conductor(1, C[0], 3), *conductor(2, C[1], 5),
               node(1), node(2), node(3, reservation=C[0], locked_for=2)])
    code, doc = check(configs(url, work, C[:2], max_pool_size=5, max_overflow=5))
    db_checks = [c for c in doc["checks"]
                 if c["check"].startswith("db_") and c["check"] != "db_connection_budget"]
    assert [c["check"] for c in db_checks] == ["db_orphaned_reservations", "db_stale_conductors",
                                               "db_clock_skew", "db_orphaned_nodes"]
    assert all(c["code"] == "SUCCESS" for c in db_checks), db_checks
    assert code == 0, doc
    assert "3 nodes on 1 key, each served by 2+ live conductors" in results(doc, "db_orphaned_nodes")[0][1]
    assert "1 reservation, all held by alive conductors" in results(doc, "db_orphaned_reservations")[0][1]


def test_max_connections_is_read_from_the_server(database):
    url, work = database
    _sql(url, [*conductor(1, C[0], 3), *conductor(2, C[1], 5)])
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW max_connections")
            limit = int(cur.fetchone()[0])
    finally:
        conn.close()
    overflow = limit // 2  # 2 conductors x (5 + overflow) > limit
    code, doc = check(configs(url, work, C[:2], max_pool_size=5, max_overflow=overflow))
    [(result, details)] = results(doc, "db_connection_budget")
    assert result == "FAILURE" and code == 2
    assert f"can open {2 * (5 + overflow)} connections" in details
    assert f"> max_connections {limit} (queried from the database)" in details
    code, doc = check([*configs(url, work, C[:2], max_pool_size=5, max_overflow=overflow),
                       "--max-connections", str(2 * (5 + overflow))])
    assert results(doc, "db_connection_budget")[0][0] == "SUCCESS"


def test_dead_silent_skewed_conductors_and_orphans(database):
    url, work = database
    _sql(url, [
        *conductor(1, C[0], 3),  # alive
        *conductor(2, C[1], 300),  # crashed: online flag set, silent for 5 min
        *conductor(3, C[2], 4000, online=False),  # stopped long ago
        *conductor(4, C[3], -30),  # clock 30 s ahead of the database
        *conductor(5, C[4], 40, hardware=("ipmi", "redfish")),  # late (> 10 + 5 s) but alive
        node(1), node(2),
        node(3, reservation=C[1], locked_for=500),  # locked by the silent one
        node(4, reservation="ghost.example.net", locked_for=900),  # by a name with no row
        node(5, reservation=C[2], locked_for=700),  # by the offline one
        node(6, reservation=C[0], locked_for=1),  # by a live one: fine
        node(7, group="west"), node(8, group="west"),  # no conductor in group west
        node(9, driver="redfish"),  # served by one live conductor only
    ])
    args = configs(url, work, [C[0]], max_pool_size=5, max_overflow=5)
    code, doc = check(args)
    assert code == 2

    reservations = results(doc, "db_orphaned_reservations")
    assert [r for r, _ in reservations] == ["FAILURE", "WARNING"]
    assert "1 node locked by conductors with no row" in reservations[0][1]
    assert near(900, r"000000000004 by ghost\.example\.net \((\d+) s\)", reservations[0][1])
    assert "2 nodes locked by conductors that are not alive" in reservations[1][1]
    assert near(500, rf"000000000003 by {C[1]} \((\d+) s\), holder silent, online flag still set, last beat",
                reservations[1][1])
    assert near(300, rf"000000000003 by {C[1]} .*?last beat (\d+) s ago", reservations[1][1])
    assert near(700, rf"000000000005 by {C[2]} \((\d+) s\), holder offline", reservations[1][1])
    assert "000000000006" not in reservations[0][1] + reservations[1][1]

    stale = results(doc, "db_stale_conductors")
    assert [r for r, _ in stale] == ["WARNING", "WARNING"]
    assert "1 conductor marked online but silent for more than heartbeat_timeout 60 s" in stale[0][1]
    assert near(300, rf"{C[1]} \((\d+) s\)", stale[0][1])
    assert "1 offline conductor row" in stale[1][1]
    assert near(4000, rf"{C[2]} \(last beat (\d+) s ago\)", stale[1][1])

    skew = results(doc, "db_clock_skew")
    assert [r for r, _ in skew] == ["WARNING", "WARNING"]
    assert near(30, rf"clock ahead of the database: {C[3]} \((\d+) s ahead\)", skew[0][1], slack=-10)
    assert near(40, rf"{C[4]} \(last beat (\d+) s ago\)", skew[1][1]) and C[0] not in skew[1][1]

    orphans = results(doc, "db_orphaned_nodes")
    assert [r for r, _ in orphans] == ["FAILURE", "WARNING"]
    assert "2 nodes on keys no live conductor serves" in orphans[0][1] and "'west:ipmi' 2" in orphans[0][1]
    assert f"1 node on keys served by one live conductor: ':redfish' 1 by {C[4]}" in orphans[1][1]

    # Ironic's own view of the same rows agrees on who is alive and which keys have hosts.
    view = ironic_view(args[1])
    assert view["online"] == sorted([C[0], C[3], C[4]])
    assert set(view["offline"]) == {C[1], C[2]}
    assert view["keys"] == {":ipmi": sorted([C[0], C[3], C[4]]), ":redfish": [C[4]]}
