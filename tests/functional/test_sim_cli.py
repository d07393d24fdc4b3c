"""The simulator command: clear one-line errors for bad input, and fleet scale."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys

import pytest

from ironic_scale.sim.launcher import FleetFailed
from tests.ipmi_clients import ipmipower, ipmipower_states, ipmitool


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args,message", [
    (["--address", "10.0.0.1"], "not on loopback"),
    (["--loss", "2"], "not a fraction"),
    (["--latency", "soon"], "invalid latency"),
    (["--count", "0"], "must be at least 1"),
    (["--count", "100000", "--processes", "1"], "need at least"),
    (["--per-port", "--port", "65530", "--count", "10"], "exceed 65535"),
])
def test_bad_arguments_give_one_line_errors(args, message):
    res = run_cli("sim", "run", "--duration", "1", *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_address_in_use_is_a_clear_error(fleet_factory):
    first = fleet_factory(2)
    with pytest.raises(FleetFailed, match="cannot listen on .*Address already in use"):
        fleet_factory(2, "--address", first.endpoints[0].address)


def test_ctl_reports_unknown_bmc(fleet_factory):
    f = fleet_factory(1)
    res = run_cli("sim", "ctl", "--control", f.control.path, "reboot", "127.0.0.99:623")
    assert res.returncode == 2 and "no simulated BMC at 127.0.0.99:623" in res.stderr
    res = run_cli("sim", "ctl", "--control", f.control.path, "counters")
    assert res.returncode == 0 and '"endpoints": 1' in res.stdout


def test_ctl_slots_reports_sessions_held_per_bmc(fleet_factory):
    f = fleet_factory(2)
    ipmitool(f.endpoints[0], "power", "status")  # logs in, polls, logs out: one slot, once
    res = run_cli("sim", "ctl", "--control", f.control.path, "slots", "--reset")
    assert res.returncode == 0, res.stderr
    assert '"max": 1' in res.stdout and '"held": 0' in res.stdout
    res = run_cli("sim", "ctl", "--control", f.control.path, "slots")
    assert '"max": 0' in res.stdout  # the marks started again from the sessions held


def test_counters_are_reported_at_exit(fleet_factory):
    f = fleet_factory(3)
    ipmipower(f.endpoints, "--stat")
    final = f.stop()
    assert final["endpoints"] == 3
    assert final["req.get_chassis_status"] == 3
    assert final["login.ok"] == 3 and final["live_sessions"] == 0
    out = f.proc.stdout.read()
    assert "req.get_chassis_status" in out


@pytest.mark.slow
def test_fleet_of_5000_answers_a_sweep(fleet_factory):
    f = fleet_factory(5000, "--processes", "2")
    assert f.control.counters()["processes"] == 2
    states: dict[str, str] = {}
    for i in range(0, 5000, 1000):
        states.update(ipmipower_states(ipmipower(f.endpoints[i : i + 1000], "--stat").stdout))
    assert len(states) == 5000
    assert set(states.values()) == {"off"}
    counters = f.control.counters()
    assert counters["req.get_chassis_status"] == 5000
    assert counters["live_sessions"] == 0


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


def test_open_files_limit_is_a_clear_error_and_auto_mode_splits():
    res = subprocess.run(
        [sys.executable, "-m", "ironic_scale.cli", "sim", "run", "--count", "500", "--processes", "1",
         "--address", "127.12.0.1", "--duration", "1"],
        capture_output=True, text=True, timeout=60, preexec_fn=_low_fd_limit)
    assert res.returncode == 2
    assert "500 BMCs need at least 4 processes (open-files limit allows 136 per process)" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "ironic_scale.cli", "sim", "run", "--count", "500",
         "--address", "127.12.0.1", "--duration", "0.5"],
        capture_output=True, text=True, timeout=60, preexec_fn=_low_fd_limit)
    assert res.returncode == 0, res.stderr
    assert "ready: 500 BMCs on 4 process(es)" in res.stdout


def test_per_port_mode_serves_every_port(fleet_factory):
    port = random.randint(20000, 60000)
    f = fleet_factory(3, "--per-port", "--port", str(port))
    assert [e.port for e in f.endpoints] == [port, port + 1, port + 2]
    assert len({e.address for e in f.endpoints}) == 1
    for ep in f.endpoints:
        res = ipmitool(ep, "chassis", "power", "status")
        assert res.stdout.strip() == "Chassis Power is off", res.stderr


def test_sigterm_to_the_process_group_still_reports_counters(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironic_scale.cli", "sim", "run", "--count", "2",
         "--address", "127.13.0.1", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("ready:")
        os.killpg(proc.pid, signal.SIGTERM)  # as timeout(1) or systemd would
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "endpoints" in out and "workers_lost" not in out
