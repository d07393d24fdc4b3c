"""``ironic-scale conductors generate`` as an operator runs it: real files, ``systemd-analyze verify``
on the units, and every refusal as one line with exit status 2 and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ironic_scale.stack.processes import tool

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
BASE = "[DEFAULT]\nrpc_transport = json-rpc\nhash_partition_exponent = 7\n" \
       "[database]\nconnection = postgresql+psycopg2://ironic:x@db.example.net/ironic\n"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", "conductors", "generate", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def base(tmp_path) -> Path:
    path = tmp_path / "etc" / "ironic" / "ironic.conf"
    path.parent.mkdir(parents=True)
    path.write_text(BASE)
    return path


def common(base: Path, *more: str) -> list[str]:
    return ["--base-config", str(base), "--db-max-connections", "500", "--api-workers", "4", *more]


def verify(unit_dir: Path, *units: str) -> subprocess.CompletedProcess:
    """systemd-analyze verify, offline: our directory first on the unit path (the trailing ':'
    keeps the built-in directories, where multi-user.target and network-online.target live)."""
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{unit_dir}:", SYSTEMD_LOG_COLOR="0")
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *units],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_generated_units_pass_systemd_analyze_verify(tmp_path, base):
    out = tmp_path / "out"
    res = cli("--host", "ctl1.example.net=3", "--host", "10.0.0.7=2",
              "--conductor-bin", tool("ironic-conductor"), *common(base, "--out", str(out)))
    assert res.returncode == 0, res.stderr
    for machine, count in (("ctl1.example.net", 3), ("10.0.0.7", 2)):
        unit_dir = out / machine / "etc/systemd/system"
        instances = [f"ironic-conductor@{i}.service" for i in range(1, count + 1)]
        checked = verify(unit_dir, "ironic-conductors.target", *instances)
        assert checked.returncode == 0 and checked.stderr == "", checked.stderr
        # The template file itself, by path, as an operator would check it before installing.
        checked = verify(unit_dir, str(unit_dir / "ironic-conductor@.service"))
        assert checked.returncode == 0 and checked.stderr == "", checked.stderr

    # A control: verify really reads these files (a binary that is not there fails it).
    bad = tmp_path / "bad"
    res = cli("--host", "ctl1.example.net=2", "--conductor-bin", str(tmp_path / "no" / "ironic-conductor"),
              *common(base, "--out", str(bad)))
    assert res.returncode == 0 and "is not an executable here" in res.stderr
    checked = verify(bad / "ctl1.example.net/etc/systemd/system", "ironic-conductor@1.service")
    assert checked.returncode != 0 and "is not executable" in checked.stderr


def test_hosts_file_dry_run_and_plan(tmp_path, base):
    hosts = tmp_path / "hosts"
    hosts.write_text("# rack 1\nctl1.example.net=4\nctl2.example.net   # default count\n\n")
    out = tmp_path / "out"
    dry = cli("--hosts-file", str(hosts), "--per-host", "2", *common(base, "--out", str(out), "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert not out.exists()
    assert f"=== {out}/ctl2.example.net{base.parent}/conductor.d/2.conf" in dry.stdout
    assert "port_range = 15000:20000" in dry.stdout
    # Nothing but our own warnings and notes on stderr (no library noise).
    assert all(line.startswith(("ironic-scale conductors generate: warning:", "note:"))
               for line in dry.stderr.splitlines()), dry.stderr

    res = cli("--hosts-file", str(hosts), "--per-host", "2", *common(base, "--out", str(out)))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"wrote {out}: 2 hosts, 6 conductors, TimeoutStopSec=90")
    plan = json.loads((out / "plan.json").read_text())
    assert [[i["name"] for i in h["instances"]] for h in plan["hosts"]] == [
        ["ctl1.example.net", "ctl1.example.net:8090", "ctl1.example.net:8091", "ctl1.example.net:8092"],
        ["ctl2.example.net", "ctl2.example.net:8090"]]
    assert plan["database"]["worst_case"] + plan["database"]["reserve"] <= 500
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert len(written) == 1 + 2 * 2 + 6  # plan, two units per host, one drop-in per instance
    assert dry.stdout.count("\n=== ") + 1 == len(written)


@pytest.mark.parametrize("args, message", [
    (("--host", "bad_host=2"), "'_' and '%' are LIKE wildcards"),
    (("--host", "ctl1=0"), "must be a whole number of at least 1"),
    (("--host", "ctl1"), "has no count: write ctl1=N or give --per-host N"),
    (("--host", "ctl1=4", "--console-port-range", "10000:10003"), "disjoint ranges are impossible"),
    (("--host", "ctl1=2", "--console-port-range", "8000:9000"), "overlap --console-port-range"),
    (("--host", "ctl1=2", "--console-port-range", "20000-30000"), "is not START:END"),
    (("--host", "ctl1=16", "--host", "ctl2=16", "--db-max-connections", "100"),
     "database pool budget impossible: 36 processes (32 conductors + 4 API workers)"),
    (("--host", "ctl1=2", "--exponent", "10"), "hash_partition_exponent = 7 but --exponent is 10"),
    (("--host", "ctl1=2", "--rpc-transport", "oslo"), "rpc_transport = json-rpc but --rpc-transport is oslo"),
    (("--hosts-file", "/nonexistent/hosts"), "hosts file /nonexistent/hosts"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, base, args, message):
    out = tmp_path / "out"
    res = cli(*common(base), "--out", str(out), *args)  # a later --db-max-connections wins
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("ironic-scale conductors: error: ")
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["etc"]


def test_out_is_required_without_dry_run(base):
    res = cli("--host", "ctl1=2", *common(base))
    assert res.returncode == 2 and "give --out DIR" in res.stderr
