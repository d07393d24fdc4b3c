"""Generated conductors, run for real: two instances on one loopback address, started with the exact
command line of the generated unit (base config + their drop-in) against PostgreSQL, register exactly
the names ``conductors generate`` predicted, as ``GET /v1/conductors`` on a real ironic-api shows."""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ironic_scale.stack import config, postgres
from ironic_scale.stack.processes import free_port, python_environment, tool
from ironic_scale.stack.rest import IronicClient


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, env=python_environment())


def _stop(procs: list[subprocess.Popen], timeout: float = 30.0) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _tail(*logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                     for p in logs if p.exists())


def _base_config(tmp_path: Path, machine: str, db_url: str) -> tuple[Path, str]:
    """The stack's ironic.conf template (deploy/stack/) as a shared base config, plus a short ring
    reset (faster stops) and TFTP/HTTP roots under tmp_path."""
    (tmp_path / "locks").mkdir()
    api_port = free_port()
    pc = config.ProcessConfig(name="conductors", rpc_transport="json-rpc", host=machine, api_host="127.0.0.1",
                              api_port=api_port, db_url=db_url, sync_interval=60)
    rendered = config.render(config.find_deploy_dir(), tmp_path, pc)[0]
    text = rendered.read_text().replace("[DEFAULT]\n", "[DEFAULT]\nhash_ring_reset_interval = 5\n", 1)
    text += (f"\n[pxe]\ntftp_root = {tmp_path / 'tftpboot'}\n"
             f"tftp_master_path = {tmp_path / 'tftpboot/master_images'}\n"
             f"\n[deploy]\nhttp_root = {tmp_path / 'httpboot'}\n")
    base = tmp_path / "etc" / "ironic.conf"
    base.parent.mkdir()
    base.write_text(text)
    rendered.unlink()
    return base, f"http://127.0.0.1:{api_port}"


def test_generated_instances_register_exactly_the_predicted_names(tmp_path):
    machine = f"127.122.{random.randint(0, 255)}.{random.randint(1, 254)}"
    first_port = random.randrange(18089, 18199)  # this instance pair uses first_port and first_port + 1
    db_name = f"ironic_scale_gen_{random.randrange(16**8):08x}"
    db_url = postgres.fresh_database(db_name)
    procs: list[subprocess.Popen] = []
    logs = [tmp_path / n for n in ("conductors.log", "api.log", "conductor-1.stderr", "conductor-2.stderr")]
    try:
        base, api_url = _base_config(tmp_path, machine, db_url)
        out = tmp_path / "out"
        gen = subprocess.run(
            [sys.executable, "-m", "ironic_scale.cli", "conductors", "generate", "--host", f"{machine}=2",
             "--first-port", str(first_port), "--base-config", str(base),
             "--state-dir", str(tmp_path / "state"),
             "--conductor-bin", tool("ironic-conductor"), "--console-port-range", "30000:30100",
             "--db-max-connections", "100", "--api-workers", "1", "--out", str(out)],
            capture_output=True, text=True, timeout=120)
        assert gen.returncode == 0, gen.stderr
        plan = json.loads((out / "plan.json").read_text())
        predicted = [i["name"] for i in plan["hosts"][0]["instances"]]
        assert predicted == [f"{machine}:{first_port}", f"{machine}:{first_port + 1}"]
        assert plan["stop"]["timeout_stop_sec"] == 5 + 60 + 15

        # Install the drop-ins where the unit looks for them (the overlay mirrors the machine's /).
        conductor_d = base.parent / "conductor.d"
        shutil.copytree(out / machine / str(conductor_d).lstrip("/"), conductor_d)
        unit = (out / machine / "etc/systemd/system/ironic-conductor@.service").read_text()
        exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)

        schema = subprocess.run([tool("ironic-dbsync"), "--config-file", str(base), "create_schema"],
                                capture_output=True, text=True, timeout=300, env=python_environment())
        assert schema.returncode == 0, schema.stderr
        api_conf = tmp_path / "api.conf"
        api_conf.write_text(f"[DEFAULT]\nlog_file = {tmp_path / 'api.log'}\n")
        procs.append(_start([tool("ironic-api"), "--config-file", str(base), "--config-file", str(api_conf)],
                            tmp_path / "api.stderr"))
        for i in (1, 2):  # what systemd runs for ironic-conductor@<i>.service
            command = shlex.split(exec_start.replace("%i", str(i)))
            procs.append(_start(command, tmp_path / f"conductor-{i}.stderr"))

        client = IronicClient(api_url, timeout=5)
        deadline = time.monotonic() + 90
        conductors: list[dict] = []
        while time.monotonic() < deadline:
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead, f"exited: {dead}\n{_tail(*logs)}"
            try:
                conductors = client.request("GET", "/v1/conductors")["conductors"]
            except OSError:
                conductors = []
            if sum(c["alive"] for c in conductors) >= 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"conductors not alive in 90 s: {conductors}\n{_tail(*logs)}")
        assert sorted(c["hostname"] for c in conductors) == sorted(predicted)
        assert all(c["alive"] for c in conductors)
    finally:
        _stop(procs)
        postgres.drop_database(db_name)
