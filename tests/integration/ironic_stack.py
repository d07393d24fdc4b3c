"""A real Ironic 39 all-in-one (API + conductor, SQLite) on loopback, for tests.

Nothing is mocked: ``ironic-dbsync`` creates the schema, the ``ironic``
command serves the API, and nodes are driven over REST like an operator's
``baremetal`` client does (noauth).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

API_VERSION = "1.95"  # Ironic 39 (2025.2) speaks at least this microversion

CONF_TEMPLATE = """\
[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = integration-conductor
enabled_hardware_types = native-ipmi,ipmi
enabled_power_interfaces = native-ipmi,ipmitool
enabled_management_interfaces = native-ipmi,ipmitool
enabled_boot_interfaces = pxe
enabled_deploy_interfaces = direct
enabled_console_interfaces = no-console
enabled_vendor_interfaces = no-vendor,ipmitool
enabled_inspect_interfaces = no-inspect
enabled_network_interfaces = noop
enabled_raid_interfaces = no-raid
enabled_bios_interfaces = no-bios
enabled_rescue_interfaces = no-rescue
enabled_firmware_interfaces = no-firmware
enabled_storage_interfaces = noop
log_file = {work}/ironic.log
debug = false

[api]
host_ip = 127.0.0.1
port = {port}

[database]
connection = sqlite:///{work}/ironic.sqlite

[conductor]
automated_clean = false
sync_power_state_interval = {sync_interval}

[dhcp]
dhcp_provider = none

[oslo_concurrency]
lock_path = {work}/locks

[native_ipmi]
command_timeout = 5
retry_interval = 0.5
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(name: str) -> str:
    """A console script of the venv running the tests."""
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else shutil.which(name) or name


class IronicStack:
    """Start, talk to over REST, and stop one all-in-one Ironic."""

    def __init__(self, work: Path, sync_interval: int = 60):
        self.work = work
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = work / "ironic.conf"
        (work / "locks").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(CONF_TEMPLATE.format(work=work, port=self.port,
                                                  sync_interval=sync_interval))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        subprocess.run([_tool("ironic-dbsync"), "--config-file", str(self.conf), "create_schema"],
                       check=True, capture_output=True, timeout=300)
        self.proc = subprocess.Popen([_tool("ironic"), "--config-file", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.work / "stderr.log", "w"),
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ironic exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if self.request("GET", "/v1/drivers")["drivers"]:
                    return  # API up and the conductor registered its drivers
            except (OSError, urllib.error.URLError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ironic not ready in {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("ironic.log", "stderr.log"):
            path = self.work / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return text

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Content-Type": "application/json", "X-OpenStack-Ironic-API-Version": API_VERSION})
        try:
            with urllib.request.urlopen(req, timeout=60) as rsp:
                raw = rsp.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: HTTP {e.code}: {e.read().decode()}") from None
        return json.loads(raw) if raw else None

    def wait_for(self, path: str, predicate, what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.request("GET", path)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {value}")
            time.sleep(0.2)
