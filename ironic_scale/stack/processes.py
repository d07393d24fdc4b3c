"""Start, watch and stop a real Ironic 39 on loopback: the all-in-one ``ironic``
on SQLite, or ``ironic-api`` plus conductors on PostgreSQL or MariaDB, talking
json-rpc or oslo.messaging over RabbitMQ.

Conductors run on ``hosts`` loopback addresses (the hosts of a fleet), ``per_host``
on each, named as Ironic registers them (``ironic_scale.sharding.names``). MariaDB
and RabbitMQ are private servers of the stack (``mariadb.py``, ``rabbitmq.py``);
PostgreSQL is Debian's cluster with a database per stack (``postgres.py``).

Every run has its own work directory holding the rendered configs, the logs,
the SQLite file or MariaDB's data directory, and ``stack.json`` (PIDs, URLs and
every conductor's registered name), so ``ironic-scale stack down`` can stop a
stack that an earlier command started.
"""

from __future__ import annotations

import configparser
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ironic_scale.sharding import names
from ironic_scale.stack import config, mariadb, postgres, rabbitmq
from ironic_scale.stack.rest import IronicClient

STATE_FILE = "stack.json"
DATABASES = ("sqlite", "postgresql", "mariadb")
RPCS = ("json-rpc", "rabbit")
# Ironic's [DEFAULT]rpc_transport for each: "oslo" is oslo.messaging (here over RabbitMQ).
RPC_TRANSPORT = {"json-rpc": "json-rpc", "rabbit": "oslo"}
IRONIC_ROLES = ("ironic", "api", "conductor")
# Stop order: Ironic first (conductors deregister through the database and RPC), then the
# servers it needed, then epmd once the broker has left it.
STOP_TIERS = (("ironic", "api", "conductor", ""), ("rabbitmq", "mariadb"), ("epmd",))


class StackFailed(RuntimeError):
    """A stack process exited or never became ready; carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the json-rpc server binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def first_json_rpc_port(machines: list[str], per_host: int, tries: int = 50) -> int:
    """A first port with ``per_host`` consecutive ports free on every address.

    8089 (Ironic's default) when it is free everywhere, so one conductor per address keeps
    the plain name it always had; else a free port, so that a stack never takes ports
    another stack (another test, on overlapping addresses) holds.
    """
    for attempt in range(tries):
        first = names.DEFAULT_JSON_RPC_PORT if attempt == 0 else free_port(machines[0])
        if first + per_host - 1 <= 65535 and all(
                _port_free(m, p) for m in machines for p in range(first, first + per_host)):
            return first
    raise StackFailed(f"no {per_host} consecutive free ports on {', '.join(machines)} after {tries} tries")


def tool(name: str) -> str:
    """A console script of the venv we run in (Ironic is installed next to us)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise StackFailed(f"{name} not found next to {sys.executable} or on PATH: "
                          "pip install 'ironic>=39,<40'")
    return found


def conductor_hosts(base: str, count: int) -> list[str]:
    """``count`` loopback addresses from ``base``: the hosts the conductors run on."""
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
    """What to run. Several conductors need PostgreSQL or MariaDB: SQLite allows one writer process.

    ``conductors`` alone means that many host addresses with one conductor each (the
    first shape this stack had); ``hosts`` x ``per_host`` gives several per address.
    After construction all three agree (``conductors == hosts * per_host``).
    """

    work: Path
    conductors: int = 1
    db: str = "sqlite"  # or "postgresql", "mariadb"
    sync_interval: int = 60
    conductor_base: str = "127.100.0.1"
    api_port: int = 0  # 0: a free port
    rpc: str = "json-rpc"  # or "rabbit": oslo.messaging over the stack's own RabbitMQ
    hosts: int = 0  # loopback addresses from conductor_base; 0: conductors / per_host
    per_host: int = 1  # conductors per address
    # First [json_rpc]port of every address (json-rpc); 0: 8089 when free, else a free port.
    json_rpc_port: int = 0
    deploy_dir: Path | None = None
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # extra ironic.conf settings
    # Directories put first on every Ironic process's PYTHONPATH, e.g. a patched copy of
    # Ironic from ``ironic-scale patches copy`` (the venv's own Ironic stays untouched).
    python_path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.db not in DATABASES:
            raise ValueError(f"db must be one of {', '.join(DATABASES)}, not {self.db!r}")
        if self.rpc not in RPCS:
            raise ValueError(f"rpc must be one of {', '.join(RPCS)}, not {self.rpc!r}")
        if self.conductors < 1 or self.hosts < 0 or self.per_host < 1:
            raise ValueError("at least one conductor, on at least one host")
        if not self.hosts:
            if self.per_host == 1:
                self.hosts = self.conductors
            elif self.conductors == 1:
                self.hosts = 1
            elif self.conductors % self.per_host == 0:
                self.hosts = self.conductors // self.per_host
            else:
                raise ValueError(f"{self.conductors} conductors do not split into {self.per_host} per host")
        elif self.conductors not in (1, self.hosts * self.per_host):
            raise ValueError(f"{self.conductors} conductors but {self.hosts} hosts x "
                             f"{self.per_host} per host")
        self.conductors = self.hosts * self.per_host
        if self.db == "sqlite":
            if self.conductors > 1:
                raise ValueError("several conductors need --db postgresql or --db mariadb "
                                 "(SQLite allows one process)")
            if self.rpc != "json-rpc":
                raise ValueError("--rpc rabbit needs --db postgresql or --db mariadb "
                                 "(the all-in-one ironic on SQLite makes no RPC)")
        if not 0 <= self.json_rpc_port <= 65535 - self.per_host + 1:
            raise ValueError(f"json-rpc port {self.json_rpc_port} out of range")

    @property
    def rpc_transport(self) -> str:
        """Ironic's [DEFAULT]rpc_transport."""
        return "none" if self.db == "sqlite" else RPC_TRANSPORT[self.rpc]


@dataclass
class ProcessInfo:
    name: str
    pid: int
    log: str
    config_files: list[str]
    host: str = ""  # [DEFAULT]host of an Ironic process
    role: str = ""  # ironic, api, conductor, mariadb, rabbitmq, epmd ("": a stack.json before roles)
    machine: str = ""  # the loopback address (host) a conductor runs on
    json_rpc_port: int = 0
    registered_name: str = ""  # the name the conductor registers: its member of the hash ring
    source_address: str = ""  # where its IPMI traffic comes from (the simulator tells who asked)

    @property
    def is_conductor(self) -> bool:
        return self.role in ("ironic", "conductor") or (not self.role and self.name != "api")


@dataclass
class StackState:
    """What ``stack.json`` records about a running stack."""

    url: str
    db: str
    db_url: str
    db_name: str
    processes: list[ProcessInfo] = field(default_factory=list)
    rpc: str = "json-rpc"
    transport_url: str = ""
    hosts: int = 0
    per_host: int = 1
    json_rpc_port: int = 0  # the first [json_rpc]port on every address (json-rpc)
    db_dir: str = ""  # MariaDB's data directory (the private server's)
    rabbitmqctl_env: dict[str, str] = field(default_factory=dict)  # HOME, ERL_EPMD_PORT, node name
    # Seconds each start step took: mariadb, rabbitmq (from its start until it accepts
    # AMQP logins), schema, ironic (from spawning Ironic until every conductor is alive).
    seconds: dict[str, float] = field(default_factory=dict)

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


def process_alive(pid: int) -> bool:
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


@dataclass(frozen=True)
class _Planned:
    """One Ironic process of the stack, before it is rendered."""

    name: str
    role: str  # ironic, api, conductor
    host: str  # [DEFAULT]host
    machine: str  # the loopback address it runs on ([json_rpc]host_ip, source_address)
    json_rpc_port: int
    registered_name: str
    source_address: str = ""


def source_address(machine: str, index: int) -> str:
    """A loopback address of instance ``index`` (1..N) on ``machine`` for its IPMI traffic alone.

    Instance 1 uses the machine's address; the others the same host part 256 * (index - 1)
    further on, outside the /24 the machines take, so every conductor of the stack has its own
    and the simulator can tell which conductor polled a BMC.
    """
    return str(ipaddress.ip_address(machine) + 256 * (index - 1))


def _option(config_files: list[str], section: str, key: str) -> str | None:
    """``[section]key`` as Ironic would read it from ``config_files`` (the last file wins)."""
    value = None
    for f in config_files:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(f)
        except configparser.Error:
            continue
        if parser.has_option(section, key):
            value = parser.get(section, key)
    return value


COMMANDS = {"ironic": "ironic", "api": "ironic-api", "conductor": "ironic-conductor"}


def native_ipmi_has(option: str) -> bool:
    """True when this ironic-scale's ``[native_ipmi]`` group has ``option``."""
    from ironic_scale import conf

    return any(o.name == option for o in conf.OPTS)


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

    def prepare(self, timeout: float = 120.0) -> StackState:
        """Start the stack's own servers, render the configs and create the schema, without
        starting Ironic (enroll now). On failure, whatever was started is stopped again."""
        spec = self.spec
        self.work.mkdir(parents=True, exist_ok=True)
        self._refuse_running()
        (self.work / "locks").mkdir(exist_ok=True)
        port = spec.api_port or free_port()
        self.state = StackState(url=f"http://127.0.0.1:{port}", db=spec.db, db_url="", db_name="",
                                rpc=spec.rpc, hosts=spec.hosts, per_host=spec.per_host)
        try:
            t0 = time.monotonic()
            rabbit_ready = self._start_rabbitmq(timeout) if spec.rpc == "rabbit" else None
            t1 = time.monotonic()
            self.state.db_url = self._database()
            t2 = time.monotonic()
            if spec.db != "sqlite":
                self.state.seconds[spec.db] = round(t2 - t1, 2)
            plan = self._plan()
            overrides = self._write_overrides()
            files = {p.name: self._render(p, port) + overrides for p in plan}
            first = files[plan[0].name]
            schema = subprocess.run([tool("ironic-dbsync"), *config.config_args(first), "create_schema"],
                                    capture_output=True, text=True, timeout=600, env=self.environment())
            if schema.returncode != 0:
                raise StackFailed(f"ironic-dbsync create_schema failed: {schema.stderr.strip()[-2000:]}")
            self.state.seconds["schema"] = round(time.monotonic() - t2, 2)
            if rabbit_ready:  # booted meanwhile
                self.state.seconds["rabbitmq"] = round(rabbit_ready.result() - t0, 2)
            self.state.processes += [
                ProcessInfo(name=p.name, pid=0, log=str(self.work / f"{p.name}.log"),
                            config_files=[str(f) for f in files[p.name]], host=p.host, role=p.role,
                            machine=p.machine, json_rpc_port=p.json_rpc_port,
                            registered_name=p.registered_name, source_address=p.source_address)
                for p in plan]
            self.state.save(self.work)
        except BaseException:
            self.stop()
            raise
        return self.state

    def _refuse_running(self) -> None:
        """Two stacks in one work directory would share files, ports and a database."""
        if not (self.work / STATE_FILE).is_file():
            return
        try:
            old = StackState.load(self.work)
        except (ValueError, TypeError, KeyError):
            return  # unreadable: nothing we could stop anyway
        live = [p.name for p in old.processes if p.pid and process_alive(p.pid)]
        if live:
            raise StackFailed(f"a stack is still running in {self.work} ({', '.join(live)}): "
                              f"ironic-scale stack down --work {self.work} first")

    def _database(self) -> str:
        """The stack's database, empty; its SQLAlchemy URL."""
        spec, state = self.spec, self.state
        assert state is not None
        if spec.db == "sqlite":
            return f"sqlite:///{self.work / 'ironic.sqlite'}"
        if spec.db == "postgresql":
            # Named after the work directory: a re-run there drops what a crashed run left.
            state.db_name = "ironic_scale_" + hashlib.sha1(str(self.work).encode()).hexdigest()[:12]
            return postgres.fresh_database(state.db_name)
        server = mariadb.Server.in_work(self.work, free_port())
        mariadb.install(server)
        # oslo.db's pool: up to 5 + 50 overflow connections per process; enrollment adds one.
        max_connections = 60 * (spec.conductors + 3)
        proc = self._spawn_service("mariadb", mariadb.command(server, max_connections), server.log,
                                   [server.init_file])
        state.db_name, state.db_dir = mariadb.DATABASE, str(server.datadir)
        state.save(self.work)
        mariadb.wait_ready(server, proc)
        return server.url

    def _start_rabbitmq(self, timeout: float) -> Future[float]:
        """epmd, then the broker, which boots meanwhile: the future gives when it accepted a login."""
        assert self.state is not None
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        broker = rabbitmq.Broker.in_work(self.work, *sorted(ports))
        rabbitmq.prepare(broker)
        epmd = self._spawn_service("epmd", rabbitmq.epmd_command(broker), self.work / "epmd.stderr.log", [])
        rabbitmq.wait_epmd(broker, epmd)
        server = self._spawn_service("rabbitmq", rabbitmq.server_command(), broker.log, [broker.config],
                                     env=broker.environment(), cwd=broker.base)
        self.state.transport_url, self.state.rabbitmqctl_env = broker.url, broker.ctl_environment()
        self.state.save(self.work)

        def ready() -> float:
            rabbitmq.wait_ready(broker, [epmd, server], timeout)
            return time.monotonic()

        pool = ThreadPoolExecutor(1, thread_name_prefix="rabbitmq-ready")
        future = pool.submit(ready)
        pool.shutdown(wait=False)  # the thread ends with the wait (ready, failed or timed out)
        return future

    def _spawn_service(self, name: str, cmd: list[str], log: Path, config_files: list[Path],
                       env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        """A server of the stack (MariaDB, RabbitMQ, epmd), recorded in stack.json at once."""
        assert self.state is not None
        with open(self.work / f"{name}.stderr.log", "ab") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env, cwd=cwd,
                                    start_new_session=True)
        self._procs[name] = proc
        self.state.processes.append(ProcessInfo(name=name, pid=proc.pid, log=str(log), role=name,
                                                config_files=[str(f) for f in config_files]))
        self.state.save(self.work)
        return proc

    def _plan(self) -> list[_Planned]:
        """The Ironic processes: names, addresses and ports, and the names conductors register."""
        spec, state = self.spec, self.state
        assert state is not None
        machines = conductor_hosts(spec.conductor_base, spec.hosts)
        default_port = names.DEFAULT_JSON_RPC_PORT
        if spec.db == "sqlite":
            return [_Planned("ironic", "ironic", machines[0], machines[0], default_port, machines[0],
                             machines[0])]
        if spec.rpc == "json-rpc":
            state.json_rpc_port = first = spec.json_rpc_port or first_json_rpc_port(machines, spec.per_host)
        else:
            first = default_port  # unused by oslo.messaging
        pin = spec.options.get("DEFAULT", {}).get("pin_release_version")
        # The API reaches a conductor registered without ":port" on its own [json_rpc]port: 8089.
        plan = [_Planned("api", "api", "127.0.0.1", "127.0.0.1", default_port, "")]
        for machine in machines:
            for inst in names.host_instances(machine, spec.per_host, spec.rpc_transport, first, pin):
                plan.append(_Planned(f"conductor-{len(plan)}", "conductor", inst.host, machine,
                                     inst.json_rpc_port, inst.name, source_address(machine, inst.index)))
        return plan

    def _render(self, p: _Planned, api_port: int, sync_interval: int | None = None) -> list[Path]:
        assert self.state is not None
        native = ({"source_address": p.source_address}
                  if p.role != "api" and native_ipmi_has("source_address") else {})
        return config.render(self.deploy_dir, self.work, config.ProcessConfig(
            name=p.name, rpc_transport=self.spec.rpc_transport, host=p.host, api_host="127.0.0.1",
            api_port=api_port, db_url=self.state.db_url,
            sync_interval=self.spec.sync_interval if sync_interval is None else sync_interval,
            json_rpc_host=p.machine, json_rpc_port=p.json_rpc_port, transport_url=self.state.transport_url,
            native_ipmi=native))

    def _write_overrides(self) -> list[Path]:
        """``spec.options`` ({section: {key: value}}) as a last config file, if any."""
        if not self.spec.options:
            return []
        path = self.work / "overrides.conf"
        path.write_text("".join(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
                                for section, opts in self.spec.options.items()))
        return [path]

    def launch(self, timeout: float = 180.0) -> StackState:
        """Start every Ironic process of a prepared stack and wait until it is ready."""
        assert self.state is not None, "prepare() first"
        t0 = time.monotonic()
        try:
            for info in self.state.processes:
                if info.role in IRONIC_ROLES:
                    files = [Path(f) for f in info.config_files]
                    info.pid = self._spawn(info.name, COMMANDS[info.role], files)
            self.state.save(self.work)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.state.seconds["ironic"] = round(time.monotonic() - t0, 2)
        self.state.save(self.work)
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
        alive: list[str] = []
        while True:
            for p in self.state.processes:
                if p.pid and not process_alive(p.pid):
                    raise StackFailed(f"{p.name} exited: {self.log_tail(p.name)}")
            try:
                alive = client.alive_conductors()
                if len(alive) >= want:
                    return
            except (OSError, urllib.error.URLError, KeyError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                expected = sorted(p.registered_name for p in self.conductors)
                raise StackFailed(f"Ironic not ready in {timeout:.0f} s (alive conductors {sorted(alive)}, "
                                  f"expected {expected}): {self.log_tail()}")
            time.sleep(0.5)

    # -- use -------------------------------------------------------------------

    # -- change the set of conductors of a running stack --------------------------

    def _conductor(self, name: str) -> ProcessInfo:
        assert self.state is not None
        found = [p for p in self.state.processes if p.name == name or p.registered_name == name]
        if len(found) != 1 or not found[0].is_conductor:
            raise StackFailed(f"no conductor {name!r} in this stack "
                              f"(conductors: {', '.join(p.name for p in self.conductors)})")
        return found[0]

    def _forget(self, info: ProcessInfo) -> None:
        """A conductor stopped on purpose: pid 0 in stack.json, so nothing signals a reused PID."""
        assert self.state is not None
        proc = self._procs.pop(info.name, None)
        if proc is not None:
            proc.wait()  # reap it
        info.pid = 0
        self.state.save(self.work)

    def stop_conductor(self, name: str, timeout: float = 180.0) -> float:
        """Stop one conductor gracefully (SIGTERM to its master, as systemd does); seconds until it exited.

        Ironic deregisters it at once, keeps serving RPC for ``hash_ring_reset_interval``
        while other conductors are online, then waits up to ``graceful_shutdown_timeout``
        for its reservations. Past ``timeout`` its process group is killed and StackFailed raised.
        """
        info = self._conductor(name)
        if not info.pid or not process_alive(info.pid):
            raise StackFailed(f"{info.name} is not running")
        t0 = time.monotonic()
        proc = self._procs.get(info.name)
        os.kill(info.pid, signal.SIGTERM)
        while process_alive(info.pid) and (proc is None or proc.poll() is None):
            if time.monotonic() - t0 > timeout:
                try:
                    os.killpg(info.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._forget(info)
                raise StackFailed(f"{info.name} did not exit within {timeout:.0f} s of SIGTERM: killed")
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        self._forget(info)
        return seconds

    def kill_conductor(self, name: str, timeout: float = 30.0) -> list[int]:
        """Crash one conductor: SIGKILL its worker(s) and its master at once; the PIDs killed.

        Nothing deregisters: its row stays ``online`` until its heartbeat is older than
        ``[conductor]heartbeat_timeout``. What else its process group holds is killed too.
        """
        info = self._conductor(name)
        if not info.pid or not process_alive(info.pid):
            raise StackFailed(f"{info.name} is not running")
        pids = [*children(info.pid), info.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(info.pid, signal.SIGKILL)  # anything else it started (ipmitool children)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        proc = self._procs.get(info.name)
        while any(process_alive(p) for p in pids) and (proc is None or proc.poll() is None):
            if time.monotonic() > deadline:
                raise StackFailed(f"{info.name} still runs {timeout:.0f} s after SIGKILL")
            time.sleep(0.05)
        self._forget(info)
        return pids

    def plan_conductor(self, machine: str | None = None) -> ProcessInfo:
        """The next conductor, not started: on a new host address after the last one, or as
        one more instance on ``machine``. Named, addressed and configured like the others."""
        assert self.state is not None
        existing = self.conductors
        if not existing or existing[0].role != "conductor":
            raise StackFailed("conductors can be added to an API + conductors stack only (not SQLite)")
        machines = list(dict.fromkeys(p.machine for p in existing))
        if machine is None:
            machine = str(ipaddress.ip_address(max(machines, key=ipaddress.ip_address)) + 1)
        count = sum(p.machine == machine for p in existing) + 1
        transport = RPC_TRANSPORT[self.state.rpc]
        first = self.state.json_rpc_port or names.DEFAULT_JSON_RPC_PORT
        pin = _option(existing[0].config_files, "DEFAULT", "pin_release_version")
        inst = names.host_instances(machine, count, transport, first, pin)[-1]
        if transport == "json-rpc" and not _port_free(machine, inst.json_rpc_port):
            raise StackFailed(f"json-rpc port {machine}:{inst.json_rpc_port} is taken")
        taken = {p.name for p in self.state.processes}
        n = len(existing) + 1
        while f"conductor-{n}" in taken:
            n += 1
        return ProcessInfo(name=f"conductor-{n}", pid=0, log=str(self.work / f"conductor-{n}.log"),
                           config_files=[], host=inst.host, role="conductor", machine=machine,
                           json_rpc_port=inst.json_rpc_port, registered_name=inst.name,
                           source_address=source_address(machine, inst.index))

    def add_conductor(self, info: ProcessInfo | None = None, timeout: float = 180.0) -> ProcessInfo:
        """Start one more conductor (``plan_conductor()`` unless given) and wait until the API
        lists it alive. Its config is rendered from the same template, with the same shared
        files (local.conf, overrides.conf) and sync interval as the first conductor's."""
        assert self.state is not None
        info = info or self.plan_conductor()
        model = self.conductors[0]
        if not getattr(self, "deploy_dir", None):
            self.deploy_dir = config.find_deploy_dir(None)
        sync = int(_option(model.config_files, "conductor", "sync_power_state_interval") or 60)
        api_port = int(self.state.url.rsplit(":", 1)[1])
        planned = _Planned(info.name, "conductor", info.host, info.machine, info.json_rpc_port,
                           info.registered_name, info.source_address)
        own = self._render(planned, api_port, sync)
        shared = [f for f in model.config_files[1:] if f not in {str(x) for x in own}]
        info.config_files = [str(f) for f in own] + shared
        self.state.processes.append(info)
        self.state.hosts = len({p.machine for p in self.conductors})
        info.pid = self._spawn(info.name, COMMANDS["conductor"], [Path(f) for f in info.config_files])
        self.state.save(self.work)
        client = IronicClient(self.state.url, timeout=10)
        deadline = time.monotonic() + timeout
        while True:
            if not process_alive(info.pid):
                raise StackFailed(f"{info.name} exited: {self.log_tail(info.name)}")
            try:
                if info.registered_name in client.alive_conductors():
                    return info
            except (OSError, urllib.error.URLError, KeyError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                raise StackFailed(f"{info.name} ({info.registered_name}) not alive in {timeout:.0f} s: "
                                  f"{self.log_tail(info.name)}")
            time.sleep(0.2)

    @classmethod
    def attach(cls, work: Path) -> "Stack":
        """The stack an earlier command started in ``work`` (from its stack.json)."""
        stack = cls.__new__(cls)
        stack.work = work.resolve()
        stack.state = StackState.load(stack.work)
        stack._procs = {}
        count = sum(p.is_conductor for p in stack.state.processes)
        stack.spec = StackSpec(work=stack.work, db=stack.state.db, rpc=stack.state.rpc,
                               conductors=max(1, count), per_host=stack.state.per_host if count else 1)
        return stack

    @property
    def client(self) -> IronicClient:
        assert self.state is not None
        return IronicClient(self.state.url)

    @property
    def conductors(self) -> list[ProcessInfo]:
        """The processes that run a conductor (the all-in-one ``ironic`` included)."""
        assert self.state is not None
        return [p for p in self.state.processes if p.is_conductor]

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
        return {p.name: process_alive(p.pid) for p in self.state.processes}

    def log_tail(self, name: str | None = None, lines: int = 30) -> str:
        names_ = [name] if name else [p.name for p in (self.state.processes if self.state else [])]
        out = []
        for n in names_:
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

        Ironic's processes go first, then RabbitMQ, then epmd and MariaDB, so that the
        conductors can still deregister. The PIDs are then forgotten (0 in stack.json),
        so stopping again never signals a process group that has since reused a PID.
        """
        if self.state is None:
            return
        for tier in STOP_TIERS:
            self._stop_pids([p.pid for p in self.state.processes if p.pid and p.role in tier], timeout)
        for p in self.state.processes:
            p.pid = 0
        self._procs.clear()
        if (self.work / STATE_FILE).exists():
            self.state.save(self.work)

    def _stop_pids(self, pids: list[int], timeout: float) -> None:
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for pid in pids:
            proc = next((p for p in self._procs.values() if p.pid == pid), None)
            while process_alive(pid) and time.monotonic() < deadline:
                if proc is not None and proc.poll() is not None:
                    break
                time.sleep(0.1)
            if process_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if proc is not None:
                    proc.wait()

    def drop_database(self) -> None:
        """Drop the stack's database: PostgreSQL's, or MariaDB's whole data directory (stop first)."""
        assert self.state is not None
        if self.state.db == "postgresql" and self.state.db_name:
            postgres.drop_database(self.state.db_name)
        elif self.state.db == "mariadb" and self.state.db_dir:
            if any(p.role == "mariadb" and p.pid and process_alive(p.pid) for p in self.state.processes):
                raise StackFailed("MariaDB still runs: stop the stack before dropping its database")
            mariadb.drop(Path(self.state.db_dir))

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
