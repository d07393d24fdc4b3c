"""``ironic-scale fleet import`` against a real Ironic 39 (all-in-one, SQLite) and the simulator.

No mocks: the command talks to Ironic's REST API through openstacksdk, Ironic talks IPMI to the
simulated BMCs (``native-ipmi`` for the 1,000-node run, ``ipmitool`` on a small one), and the
checks read Ironic over REST, Ironic's own API log (which requests were made) and the
simulator's counters (which IPMI commands reached a BMC).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ironic_scale.sim.launcher import RunningFleet
from tests.cli_helpers import run_cli
from tests.fleets import start_in_range
from tests.integration.ironic_stack import IronicStack

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["name", "address", "port", "username", "password", "macs", "running", "resource_class",
           "cpus", "memory_mb", "local_gb", "cpu_arch"]
# IPMI commands that change a machine: none of them may reach a BMC during an import.
CHANGING = ("req.chassis_control", "req.set_boot_options")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = IronicStack(tmp_path_factory.mktemp("ironic"), sync_interval=60,
                    conductor_base=f"127.188.{random.randint(1, 250)}.1")
    s.start()
    yield s
    s.stop()


def rows_for(fleet: RunningFleet, prefix: str, running: set[int], mac_byte: int) -> list[dict[str, str]]:
    """One inventory row per simulated BMC, every ``running`` index a running machine.

    One MAC per node, two on every tenth (a port costs Ironic ~30 ms of CPU: the whole run is
    bound by Ironic's one process).
    """
    def macs(i: int) -> str:
        return ";".join(f"52:54:{mac_byte:02x}:{i >> 8:02x}:{i & 255:02x}:{k:02x}"
                        for k in range(1, 3 if i % 10 == 0 else 2))

    return [{"name": f"{prefix}-{i:04d}", "address": ep.address, "port": str(ep.port),
             "username": ep.username, "password": ep.password, "macs": macs(i),
             "running": "true" if i in running else "false", "resource_class": "baremetal-gold",
             "cpus": "16", "memory_mb": "65536", "local_gb": "400", "cpu_arch": "x86_64"}
            for i, ep in enumerate(fleet.endpoints)]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def import_args(stack: IronicStack, inventory: Path, *extra: str) -> list[str]:
    return ["fleet", "import", str(inventory), "--endpoint", stack.url, "--quiet", *extra]


def nodes(stack: IronicStack, prefix: str) -> dict[str, dict]:
    return {n["name"]: n for n in stack.client.nodes() if n["name"].startswith(prefix + "-")}


def ports_by_node(stack: IronicStack) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    marker = None
    while True:
        page = stack.request("GET", "/v1/ports?fields=uuid,address,node_uuid&limit=1000"
                             + (f"&marker={marker}" if marker else ""))["ports"]
        for p in page:
            out[p["node_uuid"]].add(p["address"])
        if len(page) < 1000:
            return out
        marker = page[-1]["uuid"]


def api_log(stack: IronicStack) -> Path:
    return stack.work / "ironic.log"


def api_requests(stack: IronicStack, since: int) -> Counter:
    """``METHOD path-kind status`` of every API request Ironic logged after byte ``since`` of its log."""
    out: Counter = Counter()
    with api_log(stack).open("rb") as f:
        f.seek(since)
        for raw in f:
            line = raw.decode(errors="replace")
            if " ironic.api " not in line or " - " not in line:
                continue
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                tag = f" - {method} "
                if tag in line:
                    path, _, status = line.split(tag, 1)[1].partition(" - ")
                    kind = "/".join("U" if len(p) == 36 else p for p in path.split("?")[0].split("/"))
                    out[f"{method} {kind} {status.split()[0]}"] += 1
    return out


def writes(requests: Counter) -> dict[str, int]:
    return {k: v for k, v in requests.items() if not k.startswith("GET ")}


def wait_until(predicate, what: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll a condition (the journal's growth) until it holds; fail with ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the import exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)


def journal_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return [json.loads(line) for line in lines if line.endswith("}")]


def finished(path: Path) -> int:
    """Nodes the journal has as done; a byte count (records are sorted JSON), cheap to poll while
    the import and Ironic share the machine with this test."""
    data = path.read_bytes() if path.exists() else b""
    return sum(data.count(f'"status": "ok", "step": "{step}"'.encode()) for step in ("provide", "adopt"))


def changing_commands(fleet: RunningFleet) -> dict[str, int]:
    counters = fleet.control.counters()
    return {k: v for k, v in counters.items() if (k in CHANGING or k.startswith("power.")) and v}


@pytest.mark.slow
def test_import_1000_nodes_bad_rows_interrupted_resumed_and_rerun(stack, fleet_factory, tmp_path, capsys):
    fleet = start_in_range(fleet_factory, 1000, "127.182")
    running = {i for i in range(1000) if i % 4 == 0}  # 250 running machines, 750 idle
    fleet.power([fleet.endpoints[i].key for i in running], "on")  # out of band, as they are today
    good = rows_for(fleet, "big", running, 0xB1)
    good_path = write_csv(tmp_path / "fleet.csv", good)

    # Eight bad rows (line = index + 2): every one is reported, and nothing is created.
    bad = [dict(r) for r in good]
    bad[8]["macs"] = "52:54:zz:00:00:01"
    bad[18]["name"] = bad[19]["name"]
    bad[28]["port"] = "70000"
    bad[38]["running"] = ""
    bad[48]["address"], bad[48]["port"] = bad[49]["address"], bad[49]["port"]
    bad[58]["password"] = "p" * 21
    bad_path = write_csv(tmp_path / "fleet-with-bad-rows.csv", bad)
    journal = tmp_path / "fleet.journal"
    rc = run_cli(import_args(stack, bad_path, "--journal", str(journal), "--driver", "native-ipmi"))
    err = capsys.readouterr().err
    assert rc == 2
    expected = {(10, "macs"), (20, "name"), (21, "name"), (30, "port"), (40, "running"), (50, "address"),
                (51, "address"), (60, "password")}
    for line, field in expected:
        assert f"{bad_path}:{line}: {field}: " in err, err
    assert "8 of 1000 rows" in err and "nothing was created" in err
    assert len([line for line in err.splitlines() if line.startswith(str(bad_path))]) == len(expected)
    assert nodes(stack, "big") == {} and not journal.exists()

    # The valid rows (--skip-invalid), as a separate process stopped by SIGTERM half-way.
    out1 = tmp_path / "first.json"
    log_start = api_log(stack).stat().st_size
    argv = import_args(stack, bad_path, "--skip-invalid", "--journal", str(journal),
                       "--driver", "native-ipmi", "--concurrency", "32", "--json", str(out1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironic_scale.cli", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    try:
        wait_until(lambda: finished(journal) >= 200, "200 nodes were imported", 300, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "not finished (interrupted)" in stdout and "run the same command again to resume" in stderr
    first = json.loads(out1.read_text())
    assert first["interrupted"] and first["counts"]["invalid"] == 8
    partial = nodes(stack, "big")
    assert 200 <= len(partial) < 992

    # The fixed file with the same journal: every node ends right, none is created twice.
    out2 = tmp_path / "second.json"
    rc = run_cli(import_args(stack, good_path, "--journal", str(journal), "--driver", "native-ipmi",
                             "--concurrency", "32", "--json", str(out2)))
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    second = json.loads(out2.read_text())
    counts = second["counts"]
    assert counts["available"] + counts["active"] + counts["already done"] == 1000
    assert counts["already done"] >= 200 and not second["interrupted"]
    elapsed = first["elapsed_s"] + second["elapsed_s"]
    print(f"\n1,000-node import (native-ipmi, 32 at a time): {first['elapsed_s']:.1f} s until SIGTERM + "
          f"{second['elapsed_s']:.1f} s resumed = {1000 / elapsed:.2f} nodes/s")

    listed = nodes(stack, "big")
    ports = ports_by_node(stack)
    assert len(listed) == 1000
    for i, row in enumerate(good):
        node = listed[row["name"]]
        want = ("active", "power on") if i in running else ("available", "power off")
        assert (node["provision_state"], node["power_state"]) == want, (row["name"], node["last_error"])
        assert node["driver"] == "native-ipmi" and node["resource_class"] == "baremetal-gold"
        assert node["driver_info"] == {"ipmi_address": row["address"], "ipmi_port": int(row["port"]),
                                       "ipmi_username": row["username"], "ipmi_password": "******"}
        assert node["properties"].items() >= {"cpus": 16, "memory_mb": 65536, "local_gb": 400,
                                              "cpu_arch": "x86_64"}.items()  # Ironic adds "vendor"
        assert ports[node["uuid"]] == set(row["macs"].split(";"))
        assert node["instance_info"] == {} and node["last_error"] is None
    created = api_requests(stack, log_start)
    assert created["POST /v1/nodes 201"] == 1000  # each node created once, across both runs
    assert created["POST /v1/ports 201"] == sum(len(row["macs"].split(";")) for row in good) == 1100
    records = journal_records(journal)
    enrolled = Counter(e["node"] for e in records if e["step"] == "enroll" and e["status"] == "ok")
    assert set(enrolled.values()) == {1} and len(enrolled) == 1000
    assert all(e["uuid"] == listed[e["node"]]["uuid"] for e in records
               if e["step"] == "enroll" and e["status"] == "ok")

    # Adoption and the whole import touched no machine: no power or boot-device command reached a BMC.
    assert changing_commands(fleet) == {}
    for i in sorted(running):
        state = fleet.control.state(fleet.endpoints[i].key)
        assert state["power"] == "on" and state["power_actions"] == {} and state["power_log"] == []

    # A re-run is a no-op: no API writes, no journal records, every node "already done".
    size, log_start = journal.stat().st_size, api_log(stack).stat().st_size
    rc = run_cli(import_args(stack, good_path, "--journal", str(journal), "--driver", "native-ipmi"))
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "| already done (earlier run) |  1000 |" in stdout, stdout
    assert writes(api_requests(stack, log_start)) == {}
    assert journal.stat().st_size == size


def test_ipmitool_import_of_the_simulators_own_inventory(stack, fleet_factory, tmp_path, capsys):
    idle = start_in_range(fleet_factory, 4, "127.183")
    on = fleet_factory(2, "--address", f"127.184.{random.randint(1, 199)}.1", "--power", "on")
    inventory = tmp_path / "inventory.jsonl"  # the simulator's files, as they are
    inventory.write_text(Path(idle.inventory_path).read_text() + Path(on.inventory_path).read_text())
    out = tmp_path / "out.json"
    rc = run_cli(import_args(stack, inventory, "--no-automated-clean", "--json", str(out)))
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "| created, now available |     4 |" in stdout and "| adopted, now active    |     2 |" in stdout
    listed = {n["name"]: n for n in stack.client.nodes()}
    for fleet, state, clean in ((idle, "available", False), (on, "active", None)):
        for ep in fleet.endpoints:
            node = listed[f"node-{ep.address}-{ep.port}"]
            assert (node["provision_state"], node["driver"], node["power_interface"]) == (
                state, "ipmi", "ipmitool")
            assert node["automated_clean"] is clean  # --no-automated-clean: idle nodes only
            assert node["driver_info"] == {"ipmi_address": ep.address, "ipmi_port": ep.port,
                                           "ipmi_username": "admin", "ipmi_password": "******"}
        assert changing_commands(fleet) == {}
    assert {r["outcome"] for r in json.loads(out.read_text())["nodes"]} == {"available", "active"}


def test_a_wrong_password_fails_at_manage_and_a_fixed_rerun_imports_it(stack, fleet_factory, tmp_path,
                                                                       capsys):
    fleet = start_in_range(fleet_factory, 5, "127.185")
    rows = [{"name": f"pw-{i}", "address": ep.address, "port": ep.port, "username": "admin",
             "password": "wrong" if i in (1, 3) else ep.password, "running": i == 4,
             "driver": "native-ipmi"} for i, ep in enumerate(fleet.endpoints)]
    path, journal = write_jsonl(tmp_path / "pw.jsonl", rows), tmp_path / "pw.journal"
    out = tmp_path / "out.json"
    rc = run_cli(import_args(stack, path, "--journal", str(journal), "--json", str(out)))
    stdout = capsys.readouterr().out
    assert rc == 1
    assert "| failed at manage       |     2 |" in stdout
    for name in ("pw-1", "pw-3"):
        assert f"  {name} (line {int(name[-1]) + 1}): failed at manage: " in stdout
    results = {r["name"]: r for r in json.loads(out.read_text())["nodes"]}
    listed = nodes(stack, "pw")
    for name in ("pw-1", "pw-3"):
        assert (results[name]["outcome"], results[name]["step"], results[name]["state"]) == (
            "failed", "manage", "enroll")
        assert "wrong password" in results[name]["reason"]
        assert listed[name]["provision_state"] == "enroll" and "wrong password" in listed[name]["last_error"]
    assert [listed[n]["provision_state"] for n in ("pw-0", "pw-2", "pw-4")] == ["available"] * 2 + ["active"]
    assert changing_commands(fleet) == {}

    # The operator fixes the passwords: the re-run puts them on the two nodes and goes on.
    before = journal_records(journal)
    rows[1]["password"] = rows[3]["password"] = fleet.endpoints[0].password
    write_jsonl(path, rows)
    rc = run_cli(import_args(stack, path, "--journal", str(journal)))
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "| created, now available     |     2 |" in stdout
    assert "| already done (earlier run) |     3 |" in stdout
    assert {n["provision_state"] for n in nodes(stack, "pw").values()} == {"available", "active"}
    new = journal_records(journal)[len(before):]
    assert {e["node"] for e in new} == {"pw-1", "pw-3"}  # the others were not touched


def test_someone_elses_node_of_the_same_name_is_left_alone(stack, fleet_factory, tmp_path, capsys):
    fleet = start_in_range(fleet_factory, 3, "127.186")
    theirs = stack.request("POST", "/v1/nodes", {"name": "mine-1", "driver": "ipmi",
                                                 "driver_info": {"ipmi_address": "127.186.0.250"}})
    before = stack.request("GET", f"/v1/nodes/{theirs['uuid']}")
    rows = [{"name": f"mine-{i}", "address": ep.address, "username": "admin", "password": ep.password,
             "running": False, "driver": "native-ipmi"} for i, ep in enumerate(fleet.endpoints)]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)

    rc = run_cli(import_args(stack, path, "--dry-run"))
    stdout = capsys.readouterr().out
    assert rc == 1 and "| create, then provide |     2 |" in stdout and "| conflict" in stdout
    assert not (tmp_path / "mine.jsonl.import-journal").exists()

    rc = run_cli(import_args(stack, path))
    stdout = capsys.readouterr().out
    assert rc == 1
    assert "| skipped: someone else's node of that name |     1 |" in stdout
    assert f"mine-1 (line 2): skipped: someone else's node of that name: a node with this name exists " \
           f"({theirs['uuid']}, enroll)" in stdout
    after = stack.request("GET", f"/v1/nodes/{theirs['uuid']}")
    assert after["updated_at"] == before["updated_at"]
    assert (after["driver"], after["provision_state"]) == ("ipmi", "enroll")
    assert after["driver_info"] == {"ipmi_address": "127.186.0.250"}
    assert [nodes(stack, "mine")[n]["provision_state"] for n in ("mine-0", "mine-2")] == ["available"] * 2


def test_rows_the_cloud_would_refuse_are_reported_before_anything_is_created(stack, fleet_factory, tmp_path,
                                                                            capsys):
    fleet = start_in_range(fleet_factory, 3, "127.187")
    other = stack.request("POST", "/v1/nodes", {"name": "other-1", "driver": "ipmi"})
    stack.request("POST", "/v1/ports", {"node_uuid": other["uuid"], "address": "52:54:0c:00:00:01"})
    rows = [{"name": f"grp-{i}", "address": ep.address, "username": "admin", "password": ep.password,
             "running": False, "driver": "native-ipmi", "macs": [f"52:54:0c:00:01:0{i}"]}
            for i, ep in enumerate(fleet.endpoints)]
    rows[1]["conductor_group"] = "rack-9"  # the stack's one conductor is in the default group
    rows[2]["macs"].append("52:54:0c:00:00:01")  # already a port of other-1
    path = write_jsonl(tmp_path / "grp.jsonl", rows)
    rc = run_cli(import_args(stack, path))
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{path}:2: conductor_group: no live conductor in group 'rack-9' runs native-ipmi" in err
    assert f"{path}:3: macs: 52:54:0c:00:00:01 is already a port of node other-1" in err
    assert "2 of 3 rows" in err and nodes(stack, "grp") == {}
    rc = run_cli(import_args(stack, path, "--skip-invalid"))
    out = capsys.readouterr().out
    assert rc == 1 and "| skipped: invalid row   |     2 |" in out
    assert {name: n["provision_state"] for name, n in nodes(stack, "grp").items()} == {"grp-0": "available"}
