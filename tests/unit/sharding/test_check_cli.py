"""``ironic-scale check`` as a command: exit codes, the JSON and table output, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ironic_scale.sharding.checks import CHECKS
from tests.unit.sharding.conftest import main


def test_exit_codes_follow_the_worst_result(deployment, lint):
    assert lint(deployment.args()).code == 0
    deployment.set("a2", "DEFAULT", hash_ring_reset_interval=10)  # WARNING
    assert lint(deployment.args()).code == 1
    deployment.unit = "[Service]\nTimeoutStopSec=15\n"  # FAILURE
    assert lint(deployment.args()).code == 2


def test_the_json_report(deployment, lint):
    deployment.set("b2", "conductor", conductor_group="Rack9")
    report = lint(deployment.args())
    doc = report.doc
    assert set(doc) == {"name", "result", "code", "checks", "services"}
    assert (doc["name"], doc["result"], doc["code"]) == ("ironic-scale check", 1, "WARNING")
    assert {c["check"] for c in doc["checks"]} == {name for name, _ in CHECKS}
    for c in doc["checks"]:
        assert set(c) == {"check", "result", "code", "details"}
        assert (c["result"], c["code"]) in {(0, "SUCCESS"), (1, "WARNING"), (2, "FAILURE")}
        assert c["details"] and "\n" not in c["details"]
    assert doc["services"][0] == {"service": "api 1", "files": [str(deployment.root / "api.conf")]}
    assert doc["services"][4] == {
        "service": "conductor 4", "name": "ctl-b.example.net:8090", "group": "rack9",
        "files": [str(deployment.root / "ironic.conf"), str(deployment.root / "b2.conf")]}


def test_the_table_names_every_check_and_ends_with_a_summary(deployment, capsys):
    deployment.set("a2", "DEFAULT", hash_ring_reset_interval=10)
    capsys.readouterr()
    assert main(["check", *deployment.args()]) == 1
    out = capsys.readouterr().out
    for name, _ in CHECKS:
        assert f"| {name} " in out
    assert "| ring_reset_interval    | WARNING |" in out
    assert out.rstrip().endswith(f"{len(CHECKS) - 1} SUCCESS, 1 WARNING: WARNING")


def test_the_command_prints_no_warnings_or_tracebacks(deployment):
    proc = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "check", *deployment.args(), "--format",
                           "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["code"] == "SUCCESS"


def _error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(["check", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ironic-scale check: error: "), captured.err
    return lines[0]


def test_a_missing_config_file_is_one_line_and_exit_2(deployment, capsys):
    args = deployment.args()
    missing = f"{deployment.root}/nope.conf"
    error = _error(capsys, [*args, "--conductor", f"{deployment.root}/ironic.conf,{missing}"])
    assert error.endswith(f"conductor 5: no such config file: {deployment.root}/nope.conf")


def test_an_unparsable_config_is_one_line_and_exit_2(deployment, capsys):
    broken = deployment.write("broken.conf", "[DEFAULT\nhost = x\n")
    error = _error(capsys, ["--api", broken])
    assert f"api 1 ({broken}): Failed to parse {broken}" in error and "Invalid section" in error


@pytest.mark.parametrize("section, option, value, expect", [
    ("DEFAULT", "hash_ring_algorithm", "md6", "Valid values are"),
    ("DEFAULT", "rpc_transport", "carrier-pigeon", "but found 'carrier-pigeon'"),
    ("json_rpc", "port", "70000", "Value for option port"),
    ("database", "max_pool_size", "five", "Value for option max_pool_size"),
    ("console", "port_range", "20000:10000", "Start should not be greater than end"),
    ("conductor", "reserved_workers_pool_percentage", "80", "Should be less than or equal to 50"),
])
def test_a_value_ironic_rejects_names_its_file(deployment, capsys, section, option, value, expect):
    deployment.set("b1", section, **{option: value})
    error = _error(capsys, deployment.args())
    assert f"conductor 3 ({deployment.root}/ironic.conf+{deployment.root}/b1.conf):" in error
    assert f"in {deployment.root}/b1.conf is not valid" in error and expect in error


@pytest.mark.parametrize("unit, expect", [
    ("[Service]\nTimeoutStopSec=5 parsecs\n", ":2: TimeoutStopSec: '5 parsecs': unknown time unit 'parsecs'"),
    ("[Service]\nTimeoutStopSec=soon\n", ":2: TimeoutStopSec: 'soon' is not a systemd time span"),
    ("[Service\nTimeoutStopSec=15\n", ":1: invalid section header '[Service'"),
])
def test_a_bad_unit_file_is_one_line_and_exit_2(deployment, capsys, unit, expect):
    deployment.unit = unit
    error = _error(capsys, deployment.args())
    assert error.endswith(f"ironic-conductor@.service{expect}")


def test_a_missing_unit_file(deployment, capsys):
    error = _error(capsys, [*deployment.args(), "--unit", f"{deployment.root}/nope.service"])
    assert error.endswith(f"no such unit file: {deployment.root}/nope.service")


def test_no_configs_at_all(capsys):
    assert _error(capsys, []).endswith("give at least one --api or --conductor config")


def test_db_needs_a_conductor(deployment, capsys):
    api = deployment.write("api.conf", "[DEFAULT]\n")
    assert "--db reads the first --conductor" in _error(capsys, ["--api", api, "--db"])


def test_db_without_a_connection(deployment, capsys):
    conductor = deployment.write("c.conf", "[DEFAULT]\nhost = c1\n")
    assert _error(capsys, ["--conductor", conductor, "--db"]).endswith(
        "--db: the first conductor's config has no [database]connection")


def test_db_that_cannot_be_reached(deployment, capsys):
    conductor = deployment.write(
        "c.conf", "[database]\nconnection = postgresql+psycopg2://u:secret@127.121.0.9:1/x\n")
    error = _error(capsys, ["--conductor", conductor, "--db"])
    assert "--db: cannot read Ironic's tables on postgresql 127.121.0.9:1:" in error
    assert "secret" not in error


def test_an_sqlite_db_without_ironics_schema(deployment, capsys, tmp_path):
    conductor = deployment.write("c.conf", f"[database]\nconnection = sqlite:///{tmp_path}/empty.sqlite\n")
    error = _error(capsys, ["--conductor", conductor, "--db"])
    assert "--db: cannot read Ironic's tables on sqlite" in error and "no such table: conductors" in error
