"""Poll every BMC of a fleet once with one method; measure wall time, client CPU and RSS.

Client CPU is this process's CPU plus that of the children it reaped
(``getrusage``), so forked ``ipmitool``/``ipmipower`` processes count in full.
Warm methods log in before the clock starts: they measure the steady-state
poll. Every request goes through ``readonly``: the bench only ever reads.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ironic_scale.bench import meter
from ironic_scale.bench.progress import Progress, Silent
from ironic_scale.bench.readonly import (
    ReadOnlyEngine,
    ReadOnlyViolation,
    check_tool_argv,
    raw_readonly,
)
from ironic_scale.sim.inventory import Endpoint

IRONIC_WORKERS = 8  # Ironic's [conductor]sync_power_state_workers default
IPMIPOWER_BATCH = 1000  # hosts per ipmipower process (argv stays well under limits)
IPMITOOL_KILL_AFTER = 300.0  # Ironic's -R 7 -N 5 gives up on a dead BMC after ~112 s
IPMIPOWER_KILL_AFTER = 900.0
ERROR_CHARS = 120  # a failed node's state is "error: why", cut to this length
NATIVE_TIMEOUT = 10.0  # per BMC, login included: [native_ipmi]command_timeout's default


@dataclass
class SweepOptions:
    timeout: float | None = None  # per-node deadline (native, ipmipower); None: each one's default
    progress: Progress = field(default_factory=Silent)


@dataclass
class Sweep:
    """One timed sweep: raw figures plus each node's state ("on", "off", or why not)."""

    method: str
    nodes: int
    wall_seconds: float
    cpu_seconds: float
    states: dict[str, str]
    in_process: bool
    tool_rss_kib: int | None  # a forked tool's own peak RSS (one extra run, GNU time)
    rss_growth_kib: int  # this process: peak during setup + sweep minus RSS before setup
    sim_cpu_seconds: float | None = None

    @property
    def cpu_ms_per_node(self) -> float:
        return 1000.0 * self.cpu_seconds / self.nodes

    @property
    def rss_mib(self) -> float:
        """The memory figure the table shows: a tool's own peak RSS if forked, else growth."""
        kib = self.tool_rss_kib if not self.in_process else self.rss_growth_kib
        return (kib or 0) / 1024.0


class Method(Protocol):
    in_process: bool

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]: ...

    def child_rss_kib(self, answered: list[Endpoint]) -> int | None:
        """Forked methods: peak RSS of one representative child, run again untimed
        against BMCs that answered (a dead one would take ipmitool ~112 s)."""

    def close(self) -> None: ...


def ipmitool_command(ep: Endpoint, pw_file: str) -> list[str]:
    """The command line Ironic 39's ipmitool power interface forks for a status poll.

    Ironic's defaults: ``-L ADMINISTRATOR``, retries derived from
    ``command_retry_timeout=60`` and ``min_command_interval=5`` (-R 7 -N 5),
    the password in a file.
    """
    return ["ipmitool", "-I", "lanplus", "-H", ep.address, "-L", "ADMINISTRATOR",
            "-p", str(ep.port), "-U", ep.username, "-R", "7", "-N", "5", "-f", pw_file,
            "power", "status"]


def _secret_file(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    return path


class Ipmitool:
    """One forked ipmitool per node from 8 worker threads, as Ironic does."""

    in_process = False

    def __init__(self, endpoints: list[Endpoint], options: SweepOptions):
        self.options = options
        self._tmp = tempfile.TemporaryDirectory(prefix="ironic-scale-bench-")
        self.pw_files: dict[str, str] = {}
        for ep in endpoints:
            if ep.password not in self.pw_files:
                self.pw_files[ep.password] = _secret_file(
                    self._tmp.name, f"pw{len(self.pw_files)}", ep.password)

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        total, progress = len(endpoints), self.options.progress

        def one(ep: Endpoint) -> tuple[str, str]:
            argv = ipmitool_command(ep, self.pw_files[ep.password])
            check_tool_argv(argv)
            run = meter.run_tool(argv, IPMITOOL_KILL_AFTER)
            progress.tick("ipmitool", total)
            words = run.stdout.split()
            if run.returncode == 0 and words and words[-1] in ("on", "off"):
                return ep.key, words[-1]
            return ep.key, f"error: {run.error}"[:ERROR_CHARS]

        pool = ThreadPoolExecutor(IRONIC_WORKERS)
        try:
            return dict(pool.map(one, endpoints))
        finally:  # on Ctrl-C, do not fork the thousands still queued
            pool.shutdown(wait=True, cancel_futures=True)

    def child_rss_kib(self, answered: list[Endpoint]) -> int | None:
        if not answered:
            return None
        argv = ipmitool_command(answered[0], self.pw_files[answered[0].password])
        check_tool_argv(argv)
        return meter.tool_peak_rss_kib(argv, IPMITOOL_KILL_AFTER)

    def close(self) -> None:
        self._tmp.cleanup()


def _batches(items: list[Endpoint], size: int) -> Iterable[list[Endpoint]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _conf_safe(text: str) -> bool:
    """FreeIPMI's config parser takes a double-quoted value without these characters."""
    return not any(c in text for c in '"#\\\n\r')


class Ipmipower:
    """One FreeIPMI ipmipower process per 1,000 hosts, all hosts in parallel inside it.

    Credentials go in a 0600 config file (not on the command line, where ``ps``
    shows them), unless FreeIPMI's config syntax cannot express them.
    """

    in_process = False

    def __init__(self, endpoints: list[Endpoint], options: SweepOptions):
        self.options = options
        self._tmp = tempfile.TemporaryDirectory(prefix="ironic-scale-bench-")
        self._conf: dict[tuple[str, str], str] = {}

    def _credentials_args(self, username: str, password: str) -> list[str]:
        if not (_conf_safe(username) and _conf_safe(password)):
            return ["-u", username, "-p", password]
        key = (username, password)
        if key not in self._conf:
            self._conf[key] = _secret_file(self._tmp.name, f"freeipmi{len(self._conf)}.conf",
                                           f'username "{username}"\npassword "{password}"\n')
        return ["--config-file", self._conf[key]]

    def _commands(self, endpoints: list[Endpoint]) -> Iterable[tuple[list[str], dict[str, str]]]:
        """One command per batch and per set of credentials (ipmipower takes one of each),
        with the host names it prints mapped to endpoint keys."""
        groups: dict[tuple[str, str], list[Endpoint]] = {}
        for ep in endpoints:
            groups.setdefault((ep.username, ep.password), []).append(ep)
        timeout = [] if self.options.timeout is None else [
            "--session-timeout", str(int(self.options.timeout * 1000))]
        for (username, password), group in groups.items():
            for batch in _batches(group, IPMIPOWER_BATCH):
                names = {(e.address if e.port == 623 else f"{e.address}:{e.port}"): e.key
                         for e in batch}
                argv = ["ipmipower", "-D", "LAN_2_0", "-h", ",".join(names),
                        *self._credentials_args(username, password), *timeout, "--stat"]
                check_tool_argv(argv)
                yield argv, names

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        states: dict[str, str] = {}
        for argv, names in self._commands(endpoints):
            run = meter.run_tool(argv, IPMIPOWER_KILL_AFTER)
            for line in run.stdout.splitlines():
                host, _, state = line.partition(": ")
                if host in names:
                    states[names[host]] = state.strip()
            self.options.progress.tick("ipmipower", len(endpoints), len(names))
        return states

    def child_rss_kib(self, answered: list[Endpoint]) -> int | None:
        """One full batch of answering BMCs: the largest process a sweep forks."""
        if not answered:
            return None
        argv, _ = next(iter(self._commands(answered[:IPMIPOWER_BATCH])))
        return meter.tool_peak_rss_kib(argv, IPMIPOWER_KILL_AFTER)

    def close(self) -> None:
        self._tmp.cleanup()


class _InProcess:
    """A method that polls from this process: no forked tool to measure, and
    sessions logged in before the clock starts (closed again if that fails)."""

    in_process = True

    def child_rss_kib(self, answered: list[Endpoint]) -> int | None:
        return None

    def _log_in(self, endpoints: list[Endpoint]) -> None:
        try:
            self.poll(endpoints)  # type: ignore[attr-defined]
        except BaseException as exc:  # Ctrl-C during login: nobody else will close us
            try:
                self.close()  # type: ignore[attr-defined]
            except Exception as cleanup:  # noqa: BLE001 - e.g. a pool whose thread start was interrupted
                exc.add_note(f"closing the sessions failed too: {cleanup!r}")  # the cause must win
            raise


class PyghmiWarm(_InProcess):
    """Stock pyghmi, one thread, sessions logged in before the clock starts.

    Measures the steady-state poll: one raw Get Chassis Status per node on a
    persistent session. Single-threaded because stock pyghmi is not safe under
    threads (../shared/DESIGN.md).
    """

    def __init__(self, endpoints: list[Endpoint], options: SweepOptions):
        from pyghmi.ipmi import command

        self.sessions: dict[str, Any] = {}
        try:
            for ep in endpoints:
                try:
                    self.sessions[ep.key] = command.Command(
                        bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                        password=ep.password.encode())
                except Exception:  # noqa: BLE001 - a BMC we cannot log in to fails its polls
                    pass
                options.progress.tick("pyghmi login", len(endpoints))
        except BaseException:  # Ctrl-C during login: log out of what is open
            self.close()
            raise

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        states = {}
        for ep in endpoints:
            cmd = self.sessions.get(ep.key)
            try:
                rsp = raw_readonly(cmd, 0x00, 0x01) if cmd else {"error": "no session"}
            except ReadOnlyViolation:
                raise
            except Exception as e:  # noqa: BLE001 - any client failure is a failed poll
                rsp = {"error": str(e)}
            ok = "error" not in rsp and not rsp.get("code") and rsp.get("data")
            states[ep.key] = (("on" if rsp["data"][0] & 1 else "off") if ok
                              else f"error: {rsp.get('error') or rsp.get('code')}"[:ERROR_CHARS])
        return states

    def close(self) -> None:
        for cmd in self.sessions.values():
            try:
                cmd.ipmi_session.logout()
            except Exception:  # noqa: BLE001,S110 - best effort at shutdown
                pass


def _credentials(ep: Endpoint):
    from ironic_scale.ipmi.credentials import BmcCredentials

    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


class NativeWarm(_InProcess):
    """This project's engine behind the read-only wrapper: sessions logged in before
    the clock starts, then one bulk sweep through the futurist poller."""

    def __init__(self, endpoints: list[Endpoint], options: SweepOptions):
        from ironic_scale.ipmi.engine import Engine
        from ironic_scale.ipmi.poller import PowerPoller

        self.timeout = options.timeout or NATIVE_TIMEOUT
        self.engine = ReadOnlyEngine(Engine())
        self.poller = PowerPoller(self.engine)  # type: ignore[arg-type] - duck-typed Engine
        self.creds = {ep.key: _credentials(ep) for ep in endpoints}
        self._log_in(endpoints)

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        results = self.poller.poll([self.creds[ep.key] for ep in endpoints], timeout=self.timeout)
        return {ep.key: ("on" if r else "off") if isinstance(r, bool) else f"error: {r}"[:ERROR_CHARS]
                for ep, r in zip(endpoints, results, strict=True)}

    def close(self) -> None:
        # Engine first: it fails whatever is still pending, so the poller's
        # workers return at once instead of at their deadline.
        self.engine.shutdown()
        self.poller.close()


class NativeInterface(_InProcess):
    """Ironic's view: ``NativeIPMIPower.get_power_state(task)`` per node from 8
    threads, as the conductor's power sync calls it (sessions warm).

    The task is a stand-in holding the node's uuid and driver_info: acquiring a
    real task is Ironic's own cost (database), measured by the density tests.
    This goes through the driver's process-wide engine, not the bench's
    read-only wrapper, so it is refused against real BMCs (``--inventory``).
    """

    def __init__(self, endpoints: list[Endpoint], options: SweepOptions):
        from types import SimpleNamespace

        from ironic_scale.drivers.power import NativeIPMIPower

        self.power = NativeIPMIPower()
        # shared=True: the power sync reads under a shared lock (get_power_state looks at it).
        self.tasks = {ep.key: SimpleNamespace(shared=True, node=SimpleNamespace(
            uuid=f"bench-{ep.key}", driver_internal_info={}, driver_info={
                "ipmi_address": ep.address, "ipmi_port": ep.port,
                "ipmi_username": ep.username, "ipmi_password": ep.password}))
            for ep in endpoints}
        self.pool = ThreadPoolExecutor(IRONIC_WORKERS)
        self._log_in(endpoints)

    def poll(self, endpoints: list[Endpoint]) -> dict[str, str]:
        from ironic.common import states

        def one(ep: Endpoint) -> tuple[str, str]:
            try:
                state = self.power.get_power_state(self.tasks[ep.key])
            except Exception as e:  # noqa: BLE001 - a failed poll is counted, not raised
                return ep.key, f"error: {e}"[:ERROR_CHARS]
            return ep.key, {states.POWER_ON: "on", states.POWER_OFF: "off"}.get(
                state, f"error: state {state}")

        return dict(self.pool.map(one, endpoints))

    def close(self) -> None:
        from ironic_scale.drivers import common

        self.pool.shutdown(cancel_futures=True)
        # Log out, but keep the driver's process-wide engine for the next sweep.
        for task in self.tasks.values():
            common.engine().close(common.credentials(task.node))
        # The engine takes jobs in order: once it answers this, every Close above is
        # sent, so the slots the bench reads next are not counted as left open.
        common.engine().stats()


METHODS = ("ipmitool", "ipmipower", "pyghmi-warm", "native", "native-interface")
FORKED = {"ipmitool": "ipmitool", "ipmipower": "ipmipower"}  # method -> program it runs
READ_ONLY_METHODS = ("ipmitool", "ipmipower", "pyghmi-warm", "native")
_CLASSES: dict[str, Callable[[list[Endpoint], SweepOptions], Method]] = {
    "ipmitool": Ipmitool, "ipmipower": Ipmipower, "pyghmi-warm": PyghmiWarm,
    "native": NativeWarm, "native-interface": NativeInterface}


def preload(method: str) -> None:
    """Import what a method needs before the RSS baseline, so imports do not count as growth."""
    if method == "pyghmi-warm":
        import pyghmi.ipmi.command  # noqa: F401
    elif method == "native":
        import ironic_scale.ipmi.poller  # noqa: F401
    elif method == "native-interface":
        import ironic.common.states  # noqa: F401

        import ironic_scale.drivers.power  # noqa: F401


def sweep(method: str, endpoints: list[Endpoint], options: SweepOptions | None = None,
          sim_cpu: Callable[[], float] | None = None) -> Sweep:
    """Set up ``method`` (untimed), poll every endpoint once (timed), tear down.

    ``sim_cpu`` reads the simulator's CPU seconds; it is read right around the
    timed poll, so its delta is what the simulator spent answering this sweep.
    """
    if method not in _CLASSES:
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    options = options or SweepOptions()
    preload(method)
    rss0 = meter.rss_kib()
    peak_reset = meter.reset_peak_rss()
    poller = _CLASSES[method](endpoints, options)
    try:
        sim0 = sim_cpu() if sim_cpu else None
        cpu0, t0 = meter.cpu_seconds(), time.monotonic()
        states = poller.poll(endpoints)
        wall, cpu = time.monotonic() - t0, meter.cpu_seconds() - cpu0
        sim = sim_cpu() - sim0 if sim_cpu and sim0 is not None else None
        peak = meter.peak_rss_kib() if peak_reset else meter.rss_kib()
        child_rss = poller.child_rss_kib(  # untimed
            [ep for ep in endpoints if states.get(ep.key) in ("on", "off")])
    finally:
        poller.close()
    return Sweep(method, len(endpoints), wall, cpu, states, poller.in_process, child_rss,
                 max(0, peak - rss0), sim)
