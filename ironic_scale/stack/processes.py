"""Start, watch and stop a real Ironic 39 on loopback: the all-in-one ``ironic``
on SQLite, or ``ironic-api`` plus N ``ironic-conductor`` on PostgreSQL.

Every run has its own work directory holding the rendered configs, the logs,
the SQLite file and ``stack.json`` (PIDs and URLs), so ``ironic-scale stack
down`` can stop a stack that an earlier command started.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ironic_scale.stack import config, postgres
from ironic_scale.stack.rest import IronicClient

STATE_FILE = "stack.json"


class StackFailed(RuntimeError):
    """A stack process exited or never became ready; carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    """A console script of the venv we run in (Ironic is installed next to us)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise StackFailed(f"{name} not found next to {sys.executable} or on PATH: "
                          "pip install 'ironic>=39,<40'")
    return found


def conductor_hosts(base: str, count: int) -> list[str]:
    """One loopback address per conductor: its [DEFAULT]host and json-rpc address."""
    start = ipaddress.ip_address(base)
    hosts = [str(start + i) for i in range(count)]
    if not all(ipaddress.ip_address(h) in ipaddress.ip_network("127.0.0.0/8") for h in hosts):
        raise ValueError(f"conductor addresses from {base} must stay in 127.0.0.0/8")
    return hosts


def python_environment(python_path: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """Our environment with ``python_path`` first on PYTHONPATH (what Ironic's processes get)."""
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*python_path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@dataclass
class StackSpec:
    """What to run. Several conductors need PostgreSQL: SQLite allows one writer process."""

    work: Path
    conductors: int = 1
    db: str = "sqlite"  # or "postgresql"
    sync_interval: int = 60
    conductor_base: str = "127.100.0.1"
    api_port: int = 0  # 0: a free port
    deploy_dir: Path | None = None
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # extra ironic.conf settings
    # Directories put first on every Ironic process's PYTHONPATH, e.g. a patched copy of
    # Ironic from ``ironic-scale patches copy`` (the venv's own Ironic stays untouched).
    python_path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.db not in ("sqlite", "postgresql"):
            raise ValueError(f"db must be sqlite or postgresql, not {self.db!r}")
        if self.conductors < 1:
            raise ValueError("at least one conductor")
        if self.conductors > 1 and self.db == "sqlite":
            raise ValueError("several conductors need --db postgresql (SQLite allows one process)")


@dataclass
class ProcessInfo:
    name: str
    pid: int
    log: str
    config_files: list[str]
    host: str = ""


@dataclass
class StackState:
    """What ``stack.json`` records about a running stack."""

    url: str
    db: str
    db_url: str
    db_name: str
    processes: list[ProcessInfo] = field(default_factory=list)

    @classmethod
    def load(cls, work: Path) -> "StackState":
        path = work / STATE_FILE
        if not path.is_file():
            raise StackFailed(f"no {STATE_FILE} in {work}: no stack was started there")
        raw = json.loads(path.read_text())
        raw["processes"] = [ProcessInfo(**p) for p in raw["processes"]]
        return cls(**raw)

    def save(self, work: Path) -> None:
        (work / STATE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Child PIDs of ``pid``, forked by any of its threads (cotyledon forks from a thread)."""
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return sorted(kids)


class Stack:
    """One Ironic deployment on loopback; a context manager that always stops it."""

    def __init__(self, spec: StackSpec):
        self.spec = spec
        self.work = spec.work.resolve()
        self.deploy_dir = config.find_deploy_dir(spec.deploy_dir)
        self.state: StackState | None = None
        self._procs: dict[str, subprocess.Popen] = {}

    # -- start ---------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> StackState:
        """Prepare (configs, empty schema) and launch; ready when every conductor is alive."""
        self.prepare()
        return self.launch(timeout)

    def prepare(self) -> StackState:
        """Render the configs and create the schema, without starting Ironic (enroll now)."""
        spec = self.spec
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "locks").mkdir(exist_ok=True)
        db_name = ""
        if spec.db == "sqlite":
            db_url = f"sqlite:///{self.work / 'ironic.sqlite'}"
        else:
            # Named after the work directory: a re-run there drops what a crashed run left.
            db_name = "ironic_scale_" + hashlib.sha1(str(self.work).encode()).hexdigest()[:12]
            db_url = postgres.fresh_database(db_name)
        port = spec.api_port or free_port()
        self.state = StackState(url=f"http://127.0.0.1:{port}", db=spec.db, db_url=db_url, db_name=db_name)
        hosts = conductor_hosts(spec.conductor_base, spec.conductors)
        if spec.db == "sqlite":
            self._plan = [("ironic", "ironic", hosts[0])]
        else:
            self._plan = [("api", "ironic-api", "127.0.0.1")] + [
                (f"conductor-{i + 1}", "ironic-conductor", h) for i, h in enumerate(hosts)]
        overrides = self._write_overrides()
        self._files = {}
        for name, _, host in self._plan:
            pc = config.ProcessConfig(
                name=name, rpc_transport="none" if spec.db == "sqlite" else "json-rpc", host=host,
                api_host="127.0.0.1", api_port=port, db_url=db_url, sync_interval=spec.sync_interval)
            self._files[name] = config.render(self.deploy_dir, self.work, pc) + overrides
        first = self._files[self._plan[0][0]]
        schema = subprocess.run([tool("ironic-dbsync"), *config.config_args(first), "create_schema"],
                                capture_output=True, text=True, timeout=600, env=self.environment())
        if schema.returncode != 0:
            raise StackFailed(f"ironic-dbsync create_schema failed: {schema.stderr.strip()[-2000:]}")
        self.state.processes = [ProcessInfo(name=n, pid=0, log=str(self.work / f"{n}.log"),
                                            config_files=[str(f) for f in self._files[n]], host=h)
                                for n, _, h in self._plan]
        self.state.save(self.work)
        return self.state

    def _write_overrides(self) -> list[Path]:
        """``spec.options`` ({section: {key: value}}) as a last config file, if any."""
        if not self.spec.options:
            return []
        path = self.work / "overrides.conf"
        path.write_text("".join(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
                                for section, opts in self.spec.options.items()))
        return [path]

    def launch(self, timeout: float = 180.0) -> StackState:
        """Start every process of a prepared stack and wait until it is ready."""
        assert self.state is not None, "prepare() first"
        try:
            for info, (name, command, _) in zip(self.state.processes, self._plan, strict=True):
                info.pid = self._spawn(name, command, self._files[name])
            self.state.save(self.work)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self.state

    def environment(self) -> dict[str, str]:
        """The environment of every Ironic process: ours, with ``spec.python_path`` first."""
        return python_environment(self.spec.python_path)

    def _spawn(self, name: str, command: str, files: list[Path]) -> int:
        with open(self.work / f"{name}.stderr.log", "ab") as err:
            proc = subprocess.Popen([tool(command), *config.config_args(files)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True, env=self.environment())
        self._procs[name] = proc
        return proc.pid

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the API answers and every conductor has registered as alive."""
        assert self.state is not None
        client = IronicClient(self.state.url, timeout=10)
        deadline = time.monotonic() + timeout
        want = self.spec.conductors
        while True:
            for p in self.state.processes:
                if not _alive(p.pid):
                    raise StackFailed(f"{p.name} exited: {self.log_tail(p.name)}")
            try:
                if len(client.alive_conductors()) >= want:
                    return
            except (OSError, urllib.error.URLError, KeyError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                raise StackFailed(f"Ironic not ready in {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.5)

    # -- use -------------------------------------------------------------------

    @classmethod
    def attach(cls, work: Path) -> "Stack":
        """The stack an earlier command started in ``work`` (from its stack.json)."""
        stack = cls.__new__(cls)
        stack.work = work.resolve()
        stack.state = StackState.load(stack.work)
        stack._procs = {}
        stack.spec = StackSpec(work=stack.work, db=stack.state.db,
                               conductors=max(1, len(stack.state.processes) - (stack.state.db != "sqlite")))
        return stack

    @property
    def client(self) -> IronicClient:
        assert self.state is not None
        return IronicClient(self.state.url)

    @property
    def conductors(self) -> list[ProcessInfo]:
        assert self.state is not None
        return [p for p in self.state.processes if p.name != "api"]

    def config_files(self) -> list[Path]:
        """A conductor's --config-file list: what enrollment loads to reach the same DB."""
        return [Path(f) for f in self.conductors[0].config_files]

    def worker_pid(self, name: str) -> int:
        """The cotyledon worker of process ``name`` (the master forks it; it does the work)."""
        assert self.state is not None
        (p,) = [p for p in self.state.processes if p.name == name]
        kids = children(p.pid)
        if not kids:
            raise StackFailed(f"{name} (pid {p.pid}) has no worker process")
        return kids[0]

    def running(self) -> dict[str, bool]:
        assert self.state is not None
        return {p.name: _alive(p.pid) for p in self.state.processes}

    def log_tail(self, name: str | None = None, lines: int = 30) -> str:
        names = [name] if name else [p.name for p in (self.state.processes if self.state else [])]
        out = []
        for n in names:
            for suffix in (".log", ".stderr.log"):
                path = self.work / f"{n}{suffix}"
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-lines:]
                    if tail:
                        out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out) or "(no log output)"

    # -- stop ------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after ``timeout``.

        The PIDs are then forgotten (0 in stack.json), so stopping again never
        signals a process group that has since reused a PID.
        """
        if self.state is None:
            return
        pids = [p.pid for p in self.state.processes if p.pid]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for pid in pids:
            proc = next((p for p in self._procs.values() if p.pid == pid), None)
            while _alive(pid) and time.monotonic() < deadline:
                if proc is not None and proc.poll() is not None:
                    break
                time.sleep(0.1)
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if proc is not None:
                    proc.wait()
        for p in self.state.processes:
            p.pid = 0
        self._procs.clear()
        if (self.work / STATE_FILE).exists():
            self.state.save(self.work)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
