"""What `conductors generate` writes passes `check`: the operator's path from one to N per host."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_cli

BASE = """[DEFAULT]
rpc_transport = json-rpc
hash_partition_exponent = {exponent}
enabled_hardware_types = ipmi
[database]
connection = postgresql+psycopg2://ironic:x@db.example.net/ironic
"""
API = BASE + "max_pool_size = {pool}\nmax_overflow = {overflow}\n[api]\napi_workers = 4\n"


def _generate_and_check(tmp_path: Path, capsys, exponent: int, per_host: int) -> tuple[int, dict]:
    base = tmp_path / "ironic.conf"
    base.write_text(BASE.format(exponent=exponent))
    out = tmp_path / "out"
    hosts = ("ctl1.example.net", "ctl2.example.net")
    assert run_cli(["conductors", "generate", *[a for h in hosts for a in ("--host", f"{h}={per_host}")],
                  "--base-config", str(base), "--exponent", str(exponent), "--db-max-connections", "300",
                  "--api-workers", "4", "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    capsys.readouterr()
    size, overflow = plan["database"]["max_pool_size"], plan["database"]["max_overflow"]  # the note's advice
    api = tmp_path / "api.conf"
    api.write_text(API.format(exponent=exponent, pool=size, overflow=overflow))
    args = ["check", "--api", str(api), "--max-connections", "300", "--format", "json"]
    for dropin in sorted(out.glob("*/**/conductor.d/*.conf")):
        args += ["--conductor", f"{base},{dropin}"]
    args += ["--unit", str(next(out.glob("*/etc/systemd/system/ironic-conductor@.service")))]
    code = run_cli(args)
    return code, json.loads(capsys.readouterr().out)


def test_generated_units_and_dropins_pass_every_check(tmp_path, capsys):
    code, report = _generate_and_check(tmp_path, capsys, exponent=7, per_host=3)
    bad = {c["check"]: c["details"] for c in report["checks"] if c["code"] != "SUCCESS"}
    assert code == 0 and not bad, bad
    assert any("6 distinct conductor names" in c["details"] for c in report["checks"])


def test_the_default_exponent_with_many_conductors_is_only_a_warning(tmp_path, capsys):
    code, report = _generate_and_check(tmp_path, capsys, exponent=5, per_host=4)
    assert code == 1
    assert {c["check"] for c in report["checks"] if c["code"] != "SUCCESS"} == {"ring_balance"}
