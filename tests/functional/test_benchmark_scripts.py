"""Benchmark scripts run in quick mode so that they cannot rot unnoticed."""

from __future__ import annotations

import json
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
