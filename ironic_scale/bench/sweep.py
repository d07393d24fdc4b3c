"""Poll every BMC of a fleet once with one method; measure wall time and client CPU.

Client CPU is this process's CPU plus that of the children it waited for
(``getrusage``), so forked ``ipmitool``/``ipmipower`` processes count in full.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ironic_scale.sim.inventory import Endpoint

IRONIC_WORKERS = 8  # Ironic's [conductor]sync_power_state_workers default
IPMIPOWER_BATCH = 1000  # hosts per ipmipower process (argv stays well under limits)


@dataclass
class SweepResult:
    method: str
    nodes: int
    answered: int
    wrong: int
    wall_seconds: float
    cpu_seconds: float

    @property
    def failed(self) -> int:
        return self.nodes - self.answered

    @property
    def cpu_ms_per_node(self) -> float:
        return 1000.0 * self.cpu_seconds / self.nodes


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(method: str, endpoints: list[Endpoint], expected: dict[str, str],
             poll: Callable[[list[Endpoint]], dict[str, str]]) -> SweepResult:
    cpu0, t0 = _cpu(), time.monotonic()
    states = poll(endpoints)
    wall, cpu = time.monotonic() - t0, _cpu() - cpu0
    answered = sum(1 for e in endpoints if states.get(e.key) in ("on", "off"))
    wrong = sum(1 for e in endpoints if states.get(e.key) in ("on", "off")
                and states[e.key] != expected[e.key])
    return SweepResult(method, len(endpoints), answered, wrong, wall, cpu)


def ipmitool_command(ep: Endpoint, pw_file: str) -> list[str]:
    """The command line Ironic 39's ipmitool power interface forks for a status poll.

    Ironic's defaults: ``-L ADMINISTRATOR``, retries derived from
    ``command_retry_timeout=60`` and ``min_command_interval=5`` (-R 7 -N 5),
    the password in a file.
    """
    return ["ipmitool", "-I", "lanplus", "-H", ep.address, "-L", "ADMINISTRATOR",
            "-p", str(ep.port), "-U", ep.username, "-R", "7", "-N", "5", "-f", pw_file,
            "power", "status"]


def poll_ipmitool(endpoints: list[Endpoint]) -> dict[str, str]:
    """One forked ipmitool per node from 8 worker threads, as Ironic does."""
    with tempfile.TemporaryDirectory() as tmp:
        pw_files: dict[str, str] = {}
        for ep in endpoints:
            if ep.password not in pw_files:
                path = os.path.join(tmp, f"pw{len(pw_files)}")
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                    f.write(ep.password)
                pw_files[ep.password] = path

        def one(ep: Endpoint) -> tuple[str, str]:
            res = subprocess.run(ipmitool_command(ep, pw_files[ep.password]),
                                 capture_output=True, text=True, timeout=120)
            words = res.stdout.split()
            return ep.key, words[-1] if res.returncode == 0 and words else "error"

        with ThreadPoolExecutor(IRONIC_WORKERS) as pool:
            return dict(pool.map(one, endpoints))


def _batches(items: list[Endpoint], size: int) -> Iterable[list[Endpoint]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def poll_ipmipower(endpoints: list[Endpoint]) -> dict[str, str]:
    """One FreeIPMI ipmipower process per 1,000 hosts, all hosts in parallel inside it."""
    states: dict[str, str] = {}
    for batch in _batches(endpoints, IPMIPOWER_BATCH):
        names = {(e.address if e.port == 623 else f"{e.address}:{e.port}"): e.key for e in batch}
        ep = batch[0]
        res = subprocess.run(
            ["ipmipower", "-D", "LAN_2_0", "-h", ",".join(names), "-u", ep.username,
             "-p", ep.password, "--stat"],
            capture_output=True, text=True, timeout=600)
        for line in res.stdout.splitlines():
            host, _, state = line.partition(": ")
            if host in names:
                states[names[host]] = state.strip()
    return states


class PyghmiWarm:
    """Stock pyghmi, one thread, sessions logged in before the clock starts.

    Measures the steady-state poll: one raw Get Chassis Status per node on a
    persistent session. Single-threaded because stock pyghmi is not safe under
    threads (../shared/DESIGN.md).
    """

    def __init__(self, endpoints: list[Endpoint]):
        from pyghmi.ipmi import command

        self.sessions = {}
        for ep in endpoints:
            try:
                self.sessions[ep.key] = command.Command(
                    bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                    password=ep.password.encode())
            except Exception:  # noqa: BLE001 - a BMC we cannot log in to fails its polls
                pass

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        states = {}
        for ep in endpoints:
            cmd = self.sessions.get(ep.key)
            try:
                rsp = cmd.raw_command(0x00, 0x01) if cmd else {"error": "no session"}
            except Exception as e:  # noqa: BLE001 - any client failure is a failed poll
                rsp = {"error": str(e)}
            ok = "error" not in rsp and not rsp.get("code")
            states[ep.key] = ("on" if rsp["data"][0] & 1 else "off") if ok else "error"
        return states

    def close(self) -> None:
        for cmd in self.sessions.values():
            try:
                cmd.ipmi_session.logout()
            except Exception:  # noqa: BLE001,S110 - best effort at shutdown
                pass


class NativeWarm:
    """This project's engine: sessions logged in before the clock starts, then one
    bulk sweep through the futurist poller (Get Chassis Status per node)."""

    def __init__(self, endpoints: list[Endpoint]):
        from ironic_scale.ipmi.engine import Engine
        from ironic_scale.ipmi.poller import PowerPoller

        self.engine = Engine()
        self.poller = PowerPoller(self.engine)
        self.creds = {ep.key: _credentials(ep) for ep in endpoints}
        self.poll(endpoints)  # log in

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        results = self.poller.poll([self.creds[ep.key] for ep in endpoints], timeout=10.0)
        return {ep.key: ("on" if r else "off") if isinstance(r, bool) else "error"
                for ep, r in zip(endpoints, results, strict=True)}

    def close(self) -> None:
        self.poller.close()
        self.engine.shutdown()


class NativeInterface:
    """Ironic's view: ``NativeIPMIPower.get_power_state(task)`` per node from 8
    threads, as the conductor's power sync calls it (sessions warm).

    The task is a stand-in holding the node's uuid and driver_info: acquiring a
    real task is Ironic's own cost (database), measured by the density tests.
    """

    def __init__(self, endpoints: list[Endpoint]):
        from types import SimpleNamespace

        from ironic_scale.drivers.power import NativeIPMIPower

        self.power = NativeIPMIPower()
        self.tasks = {ep.key: SimpleNamespace(node=SimpleNamespace(
            uuid=f"bench-{ep.key}", driver_internal_info={}, driver_info={
                "ipmi_address": ep.address, "ipmi_port": ep.port,
                "ipmi_username": ep.username, "ipmi_password": ep.password}))
            for ep in endpoints}
        self.pool = ThreadPoolExecutor(IRONIC_WORKERS)
        self.poll(endpoints)  # log in

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        from ironic.common import states

        def one(ep: Endpoint) -> tuple[str, str]:
            try:
                state = self.power.get_power_state(self.tasks[ep.key])
            except Exception:  # noqa: BLE001 - a failed poll is counted, not raised
                return ep.key, "error"
            return ep.key, {states.POWER_ON: "on", states.POWER_OFF: "off"}.get(state, "error")

        return dict(self.pool.map(one, endpoints))

    def close(self) -> None:
        from ironic_scale.drivers import common

        self.pool.shutdown()
        # Log out, but keep the driver's process-wide engine for the next sweep.
        for task in self.tasks.values():
            common.engine().close(common.credentials(task.node))


def _credentials(ep: Endpoint):
    from ironic_scale.ipmi.credentials import BmcCredentials

    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


METHODS = ("ipmitool", "ipmipower", "pyghmi-warm", "native", "native-interface")
WARM = {"pyghmi-warm": PyghmiWarm, "native": NativeWarm, "native-interface": NativeInterface}


def sweep(method: str, endpoints: list[Endpoint], expected: dict[str, str]) -> SweepResult:
    """Poll every endpoint once with ``method``; count answers and wrong answers."""
    if method == "ipmitool":
        return _measure(method, endpoints, expected, poll_ipmitool)
    if method == "ipmipower":
        return _measure(method, endpoints, expected, poll_ipmipower)
    if method in WARM:
        pool = WARM[method](endpoints)
        try:
            return _measure(method, endpoints, expected, pool.poll)
        finally:
            pool.close()
    raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
