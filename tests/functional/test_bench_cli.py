"""``ironic-scale bench`` end to end, small: it must keep working (README's first command)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_prints_a_table_with_every_method(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run(
        [sys.executable, "-m", "ironic_scale.cli", "bench", "--count", "12", "--repeats", "2",
         "--address", "127.11.0.1", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split() for line in res.stdout.splitlines()[2:7]}
    assert set(rows) == {"ipmitool", "ipmipower", "pyghmi-warm", "native", "native-interface"}
    for method, cols in rows.items():
        assert cols[1:4] == ["12", "0", "0"], f"{method}: nodes, failed, wrong: {cols}"
    data = json.loads(out.read_text())
    assert all(r[0]["answered"] == 12 and r[0]["cpu_seconds"] > 0 for r in data.values())


def test_bench_refuses_unknown_method():
    res = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "bench", "--methods", "telnet"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "unknown method 'telnet'" in res.stderr
