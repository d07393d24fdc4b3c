"""``ironic-scale bench --inventory``: against real BMCs the bench only ever reads.

Proved two ways: the simulator's own request counters after a read-only run
(no Chassis Control, no Set Boot Options, nothing but reads and session
commands), and the guards themselves refusing every write they are handed.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from ironic_scale.bench.readonly import (
    ReadOnlyEngine,
    ReadOnlyViolation,
    check_tool_argv,
    raw_readonly,
)
from ironic_scale.bench.sweep import ipmitool_command
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.sim.inventory import Endpoint
from ironic_scale.sim.launcher import start_fleet

SESSION = {"req.get_channel_auth_caps", "req.get_channel_cipher_suites",
           "req.set_session_privilege", "req.close_session"}
READS = {"req.get_chassis_status", "req.get_device_id"}
WRITES = ("req.chassis_control", "req.set_boot_options")


def _requests(before: dict, after: dict) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after
            if k.startswith("req.") and after[k] != before.get(k, 0)}


def _bench(inventory: str, out: str, methods: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ironic_scale.cli", "bench", "--inventory", inventory,
         "--methods", methods, "--repeats", "1", "--json", out, "--plot", out + ".png"],
        capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def fleet():
    f = start_fleet(16, ("--address", f"127.{random.randint(100, 199)}.{random.randint(0, 250)}.1"))
    f.control.power([e.key for e in f.endpoints[:5]], "on")
    yield f
    f.stop()


def test_read_only_run_sends_no_power_or_boot_command(fleet, tmp_path):
    before = fleet.control.counters()
    res = _bench(fleet.inventory_path, str(tmp_path / "ro.json"), "ipmipower,pyghmi-warm,native")
    assert res.returncode == 0, res.stderr[-3000:]
    requests = _requests(before, fleet.control.counters())
    for w in WRITES:
        assert w not in requests, requests
    assert set(requests) <= READS | SESSION, requests
    assert requests["req.get_chassis_status"] >= 3 * 16
    doc = json.loads((tmp_path / "ro.json").read_text())
    assert doc["mode"] == "inventory" and doc["fleets"] == []
    for row in doc["rows"]:  # states seen are reported; nothing is judged
        assert row["correct"] is None
        assert row["summary"]["on"]["max"] == 5 and row["summary"]["off"]["max"] == 11
    assert "real BMCs, read-only" in res.stdout


def test_read_only_ipmitool_runs_only_power_status(fleet, tmp_path):
    """ipmitool's own discovery (netfn 0x2C PICMG/VITA/DCMI Gets, unknown to the simulator)
    is the only thing beyond reads and session commands."""
    before = fleet.control.counters()
    res = _bench(fleet.inventory_path, str(tmp_path / "ro.json"), "ipmitool")
    assert res.returncode == 0, res.stderr[-3000:]
    requests = _requests(before, fleet.control.counters())
    for w in WRITES:
        assert w not in requests, requests
    assert set(requests) <= READS | SESSION | {"req.unknown"}, requests
    assert requests["req.get_chassis_status"] == 16 + 1  # + the untimed run that measures RSS


def test_read_only_mode_refuses_methods_outside_the_guard(fleet, tmp_path):
    res = _bench(fleet.inventory_path, str(tmp_path / "ro.json"), "native-interface")
    assert res.returncode == 2 and "cannot run against real BMCs" in res.stderr


class RecordingEngine:
    def __init__(self):
        self.calls = []

    def submit(self, creds, netfn, cmd, data=b"", timeout=10.0, lun=0):
        self.calls.append((netfn, cmd))

    def call(self, creds, netfn, cmd, data=b"", timeout=10.0, lun=0):
        self.calls.append((netfn, cmd))
        return b"\x00"


def test_read_only_engine_refuses_chassis_control_and_boot_options():
    inner = RecordingEngine()
    engine = ReadOnlyEngine(inner)
    creds = BmcCredentials("127.100.0.1", 623, "admin", "password")
    for netfn, cmd, data in ((0x00, 0x02, b"\x01"), (0x00, 0x08, b"\x05\x80\x04\x00\x00\x00"),
                             (0x00, 0x09, b"\x05\x00\x00"), (0x06, 0x3C, b"")):
        with pytest.raises(ReadOnlyViolation):
            engine.submit(creds, netfn, cmd, data)
        with pytest.raises(ReadOnlyViolation):
            engine.call(creds, netfn, cmd, data)
    assert inner.calls == []  # nothing reached the real engine
    engine.submit(creds, 0x00, 0x01)
    engine.call(creds, 0x06, 0x01)
    assert inner.calls == [(0x00, 0x01), (0x06, 0x01)]
    assert not hasattr(engine, "_post")  # no pass-through to the engine's internals


def test_pyghmi_guard_refuses_writes():
    class Command:
        def raw_command(self, netfn, command, data=()):
            raise AssertionError("a write reached pyghmi")

    with pytest.raises(ReadOnlyViolation):
        raw_readonly(Command(), 0x00, 0x02, b"\x00")


def test_tool_guard_allows_only_status():
    ep = Endpoint("127.100.0.1", 623, "admin", "password")
    check_tool_argv(ipmitool_command(ep, "/tmp/pw"))
    check_tool_argv(["ipmipower", "-D", "LAN_2_0", "-h", "127.100.0.1", "-u", "a", "-p", "b", "--stat"])
    bad = [
        ipmitool_command(ep, "/tmp/pw")[:-2] + ["power", "on"],
        ipmitool_command(ep, "/tmp/pw")[:-2] + ["chassis", "bootdev", "pxe"],
        ipmitool_command(ep, "/tmp/pw")[:-2] + ["raw", "0x00", "0x02", "0x01"],
        ["ipmitool", "-I", "lanplus", "-H", "x", "power", "off", "power", "status"],
        ["ipmipower", "-D", "LAN_2_0", "-h", "127.100.0.1", "--on"],
        ["ipmipower", "-D", "LAN_2_0", "-h", "127.100.0.1", "--off", "--stat"],
        ["ipmi-chassis", "--get-status"],
    ]
    for argv in bad:
        with pytest.raises(ReadOnlyViolation):
            check_tool_argv(argv)
