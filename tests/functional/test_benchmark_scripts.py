"""Benchmark scripts run in quick mode so that they cannot rot unnoticed."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sim_capacity_quick_mode(tmp_path):
    out = tmp_path / "sim_capacity.json"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sim_capacity.py"), "--quick",
                          "--output", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Simulator CPU per request" in res.stdout
    data = json.loads(out.read_text())
    assert data["errors"] == []
    assert all(s["failures"] == 0 for s in data["sweeps"])


def test_micro_benchmarks_quick_mode():
    res = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "benchmarks" / "test_micro_poll.py"),
                          "--quick", "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "client CPU per power poll" in res.stdout
    for method in ("ipmitool", "ipmipower", "native-cold", "native-warm"):
        assert f"\n{method} " in res.stdout, method


def test_interface_and_keepalive_benchmarks_quick_mode():
    # The keepalive benchmark's fleet takes the /16 after this one.
    address = f"127.{random.randint(181, 189)}.{random.randint(0, 250)}.1"
    res = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "benchmarks" / "test_interface_poll.py"),
                          str(ROOT / "benchmarks" / "test_keepalive_cost.py"), "--quick", "-q",
                          "-p", "no:cacheprovider", "--sim-address", address],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:]
    for row in ("\nipmitool-iface ", "\nnative-iface ", "Ironic's ipmitool power interface / native-ipmi's: ",
                "CPU per keepalive", "idle scan alone"):
        assert row in res.stdout, row
