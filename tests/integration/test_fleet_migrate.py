"""``fleet migrate`` on a real Ironic (all-in-one, SQLite) and simulated BMCs, over REST.

The cloud is built as an operator's would be: nodes enrolled through the API with the
ipmi hardware type, managed (Ironic reads each BMC), then provided (idle) or adopted
(running). Every test leaves the nodes as it found them. Nothing is mocked; the
simulator's counters prove that no power or boot-device command reached any BMC.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import futurist
import pytest

from ironic_scale.sim.launcher import start_fleet
from tests.cli_helpers import run_cli
from tests.integration.ironic_stack import IronicStack

IDLE, RUNNING, MANAGEABLE = 8, 14, 2
FIELDS = ("driver", "power_interface", "management_interface", "vendor_interface", "maintenance",
          "maintenance_reason", "provision_state", "power_state", "reservation")
FORBIDDEN = ("req.chassis_control", "req.set_boot_options")  # power and boot-device commands


def sdk(url: str):
    import openstack

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openstack.connect(auth_type="none", baremetal_endpoint_override=url,
                                 baremetal_api_version="latest")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    fleet = start_fleet(IDLE + RUNNING + MANAGEABLE + 1,
                        ("--address", f"127.197.{random.randint(0, 250)}.1", "--power", "on"))
    stack = IronicStack(tmp_path_factory.mktemp("ironic"), sync_interval=60)
    try:
        stack.start()
        bm = sdk(stack.url).baremetal
        endpoints = list(fleet.endpoints)
        kinds = ["idle"] * IDLE + ["run"] * RUNNING + ["mgd"] * MANAGEABLE + ["locked"]
        fleet.control.power([e.key for e, k in zip(endpoints, kinds, strict=True) if k == "idle"], "off")
        names = {f"{kind}-{i:02d}": e for i, (e, kind) in enumerate(zip(endpoints, kinds, strict=True))}

        def enroll(name: str) -> None:
            e = names[name]
            node = bm.create_node(driver="ipmi", name=name, resource_class="baremetal-test", driver_info={
                "ipmi_address": e.address, "ipmi_port": e.port, "ipmi_username": e.username,
                "ipmi_password": e.password})
            bm.set_node_provision_state(node, "manage", wait=True, timeout=60)
            if name.startswith(("idle", "locked")):
                bm.set_node_provision_state(node, "provide", wait=True, timeout=60)
            elif name.startswith("run"):
                bm.set_node_provision_state(node, "adopt", wait=True, timeout=60)

        # In parallel (openstacksdk's waits poll every few seconds), as many as the API takes.
        with futurist.ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(enroll, n) for n in names]:
                f.result()
        # Another conductor's lock, as test_enroll sets it: the API cannot.
        with sqlite3.connect(stack.work / "ironic.sqlite", timeout=30) as db:
            db.execute("UPDATE nodes SET reservation = 'elsewhere' WHERE name LIKE 'locked-%'")
        yield {"stack": stack, "fleet": fleet, "bmc": names}
    finally:
        stack.stop()
        fleet.stop()


def snapshot(cloud) -> dict[str, dict]:
    nodes = cloud["stack"].request("GET", "/v1/nodes/detail")["nodes"]
    return {n["name"]: {**{f: n[f] for f in FIELDS}, "updated_at": n["updated_at"]} for n in nodes}


def fields(snap: dict[str, dict]) -> dict[str, dict]:
    return {name: {f: v[f] for f in FIELDS} for name, v in snap.items()}


def forbidden(cloud) -> dict[str, int]:
    counters = cloud["fleet"].control.counters()
    return {k: counters.get(k, 0) for k in FORBIDDEN}


def migrate(cloud, *args: str) -> int:
    return run_cli(["fleet", "migrate", "--endpoint", cloud["stack"].url, "--quiet", *args])


def journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_dry_run_changes_nothing(cloud, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(cloud)
    assert migrate(cloud, "--to", "native-ipmi", "--all", "--dry-run", "--batch-size", "10") == 0
    out = capsys.readouterr().out
    assert f"{IDLE + RUNNING + MANAGEABLE} nodes to migrate to native-ipmi in 4 batches" in out
    assert "locked by conductor elsewhere" in out
    assert snapshot(cloud) == before
    assert list(tmp_path.iterdir()) == []  # no journal either


def test_staged_migration_rerun_and_full_rollback(cloud, tmp_path, capsys):
    before, quiet = snapshot(cloud), forbidden(cloud)
    path, report = tmp_path / "j", tmp_path / "report.json"
    assert migrate(cloud, "--to", "native-ipmi", "--all", "--canary", "2", "--batch-size", "9",
                   "--journal", str(path), "--json", str(report)) == 0
    after = snapshot(cloud)
    moved = {n for n in before if not n.startswith("locked")}
    for name in moved:
        assert after[name]["driver"] == "native-ipmi", name
        assert after[name]["power_interface"] == after[name]["management_interface"] == "native-ipmi"
        assert after[name]["vendor_interface"] == "native-ipmi"  # ipmitool's methods, plus the read
        for f in ("maintenance", "maintenance_reason", "provision_state", "power_state"):
            assert after[name][f] == before[name][f], (name, f)
    assert fields(after)["locked-24"] == fields(before)["locked-24"]
    outcome = {n["name"]: n for n in json.loads(report.read_text())["nodes"]}
    assert outcome["locked-24"]["result"] == "skipped"
    assert {outcome[n]["result"] for n in moved} == {"done"}
    assert {outcome[n]["extra"]["power_state"] for n in moved} == {"power on", "power off"}
    header = json.loads(path.read_text().splitlines()[0])
    assert [len(b) for b in header["batches"]] == [2, 9, 9, 4]
    # Each node was verified by a read through its new interface that matched Ironic's state.
    verified = [e for e in journal(path) if e["step"] == "verified"]
    assert len(verified) == len(moved) and all(e["read"] == e["had"] for e in verified)
    assert "24 nodes migrated to native-ipmi" in capsys.readouterr().out

    # A re-run with the same journal changes nothing, not even updated_at.
    assert migrate(cloud, "--to", "native-ipmi", "--journal", str(path)) == 0
    assert snapshot(cloud) == after

    assert migrate(cloud, "--rollback", str(path)) == 0
    assert fields(snapshot(cloud)) == fields(before)
    assert forbidden(cloud) == quiet


def test_there_and_back_through_ipmitool(cloud, tmp_path):
    """--to ipmitool reads the power state through ipmitool itself (the conductor runs it:
    logins from the conductor's host, not its native-ipmi source address)."""
    before, quiet = snapshot(cloud), forbidden(cloud)
    names = "run-08,idle-01"
    assert migrate(cloud, "--to", "native-ipmi", "--nodes", names, "--journal", str(tmp_path / "a")) == 0
    control = cloud["fleet"].control
    keys = [cloud["bmc"][n].key for n in names.split(",")]
    control.requesters(keys, reset=True)
    assert migrate(cloud, "--to", "ipmitool", "--nodes", names, "--journal", str(tmp_path / "b")) == 0
    now = snapshot(cloud)
    for name in names.split(","):
        assert (now[name]["driver"], now[name]["power_interface"], now[name]["vendor_interface"]) == (
            "ipmi", "ipmitool", "ipmitool")
    verified = [e for e in journal(tmp_path / "b") if e["step"] == "verified"]
    assert sorted(e["read"] for e in verified) == ["power off", "power on"]
    asked = control.requesters(keys)["requesters"]
    ipmitool_source = "127.0.0.1"  # ipmitool binds no address; native-ipmi sends from the conductor's
    assert all(asked[k]["sources"].get(ipmitool_source, {}).get("status_reads", 0) >= 1 for k in keys), asked
    assert fields(snapshot(cloud)) == fields(before)  # ipmi + ipmitool: where they started
    assert forbidden(cloud) == quiet


def test_failing_bmcs_stop_the_run_and_are_rolled_back(cloud, tmp_path):
    before, quiet = snapshot(cloud), forbidden(cloud)
    order = sorted(n for n in before if n.startswith("run-"))  # the plan's order: by name
    dead = order[3:5]  # two of the second batch of five
    control = cloud["fleet"].control
    control.set([cloud["bmc"][n].key for n in dead], dead=True)
    path, report = tmp_path / "j", tmp_path / "r.json"
    try:
        assert migrate(cloud, "--to", "native-ipmi", "--name-pattern", "run-*", "--canary", "1",
                       "--batch-size", "5", "--max-failure-rate", "0.2", "--journal", str(path),
                       "--json", str(report)) == 1
    finally:
        control.set([cloud["bmc"][n].key for n in dead], dead=False)
    result = json.loads(report.read_text())
    assert result["stopped"].startswith("batch 2: 2 of 5 nodes failed")
    by_name = {n["name"]: n for n in result["nodes"]}
    assert {by_name[n]["result"] for n in order[:6] if n not in dead} == {"done"}
    for n in dead:
        assert (by_name[n]["result"], by_name[n]["step"], by_name[n]["extra"]["rollback"]) == (
            "failed", "verify", "rolled_back")
    assert len(result["not_attempted"]) == len(order) - 6
    now = fields(snapshot(cloud))
    for n in dead + order[6:]:
        assert now[n] == fields(before)[n], n  # rolled back / never touched
    assert migrate(cloud, "--rollback", str(path)) == 0
    assert fields(snapshot(cloud)) == fields(before)
    assert forbidden(cloud) == quiet


def test_a_power_state_that_disagrees_fails_the_node(cloud, tmp_path, capsys):
    before = snapshot(cloud)
    control, key = cloud["fleet"].control, cloud["bmc"]["run-10"].key
    control.power([key], "off")  # behind Ironic's back: it still has "power on"
    try:
        assert migrate(cloud, "--to", "native-ipmi", "--nodes", "run-10", "--canary", "1",
                       "--journal", str(tmp_path / "j")) == 1
    finally:
        control.power([key], "on")
    out = capsys.readouterr().out
    assert "reads 'power off', Ironic had 'power on'" in out
    assert "canary batch: 1 of 1 nodes failed" in out
    assert fields(snapshot(cloud))["run-10"] == fields(before)["run-10"]


def test_an_interrupted_migration_resumes_where_it_stopped(cloud, tmp_path):
    before = snapshot(cloud)
    path = tmp_path / "j"
    args = [sys.executable, "-m", "ironic_scale.cli", "fleet", "migrate", "--endpoint", cloud["stack"].url,
            "--to", "native-ipmi", "--name-pattern", "run-*", "--canary", "0", "--batch-size", "2",
            "--concurrency", "1", "--journal", str(path), "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    deadline = time.monotonic() + 120
    while not (path.exists() and sum(e["step"] == "done" for e in journal(path)) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    done_first = {e["node"] for e in journal(path) if e["step"] == "done"}
    assert 3 <= len(done_first) < RUNNING
    assert migrate(cloud, "--to", "native-ipmi", "--journal", str(path)) == 0
    entries = journal(path)
    per_node = {}
    for e in entries:
        per_node.setdefault(e["node"], []).append(e["step"])
    assert len(per_node) == RUNNING
    for steps in per_node.values():
        assert steps.count("done") == 1 and steps.count("planned") == 1, steps
    now = snapshot(cloud)
    assert {now[n]["driver"] for n in now if n.startswith("run-")} == {"native-ipmi"}
    assert migrate(cloud, "--rollback", str(path)) == 0
    assert fields(snapshot(cloud)) == fields(before)


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "native-ipmi"], "say which nodes"),
    (["--to", "native-ipmi", "--nodes", "no-such-node"], "node no-such-node not found"),
    (["--rollback", "/nonexistent/journal"], "no such journal"),
    (["--to", "native-ipmi", "--rollback", "x"], "give --to TARGET, or --rollback JOURNAL"),
])
def test_bad_input_is_one_line_and_exit_2(cloud, capsys, args, message):
    assert migrate(cloud, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ironic-scale fleet: error:") and message in err and "\n" not in err


def test_a_journal_of_another_target_is_refused(cloud, tmp_path, capsys):
    path = tmp_path / "j"
    assert migrate(cloud, "--to", "native-ipmi", "--nodes", "mgd-22", "--journal", str(path)) == 0
    assert migrate(cloud, "--to", "ipmitool", "--journal", str(path)) == 2
    assert "is a migration to native-ipmi, not ipmitool" in capsys.readouterr().err
    assert migrate(cloud, "--rollback", str(path)) == 0


def test_a_batch_that_turns_sick_during_the_pause_stops_the_run(cloud, tmp_path):
    """The condition between batches: a migrated node that the power sync put into maintenance
    (here the pause does what Ironic's sync does to a node it cannot read) stops the run."""
    from ironic_scale.fleet.journal import Journal
    from ironic_scale.fleet.migrate_run import Staging, run
    from ironic_scale.fleet.migrate_steps import NodeSteps
    from ironic_scale.fleet.progress import Bar

    before = snapshot(cloud)
    conn = sdk(cloud["stack"].url)
    uuid = {n["name"]: n["uuid"] for n in cloud["stack"].request("GET", "/v1/nodes")["nodes"]}
    first, rest = uuid["run-11"], [uuid["run-12"], uuid["run-13"]]
    steps = NodeSteps(conn, Journal(tmp_path / "j", "migrate", {"target": "native-ipmi"}), "native-ipmi")
    paused = []

    def pause(seconds: float) -> None:
        paused.append(seconds)
        conn.baremetal.set_node_maintenance(first, "During sync_power_state, max retries exceeded")

    report = run(steps, [[first], rest], Staging(pause=30.0), Bar(3, "test", quiet=True), True, sleep=pause)
    assert paused == [30.0]
    assert report.stopped.startswith("canary batch: 1 migrated nodes unhealthy after the pause, e.g. run-11: "
                                     "in maintenance: During sync_power_state"), report.stopped
    assert report.not_attempted == rest
    assert steps.rollback(first).result == "rolled_back"
    assert fields(snapshot(cloud)) == fields(before)
