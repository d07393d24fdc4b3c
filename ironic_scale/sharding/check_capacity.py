"""Checks on shared capacity: the database (engine, connection budget) and a conductor's thread pool."""

from __future__ import annotations

import multiprocessing
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import Fleet, fail, labels, ok, plural
from ironic_scale.sharding.confload import API, ConfigError, Service

# Server defaults when neither --max-connections nor --db tells (PostgreSQL, MySQL/MariaDB).
DEFAULT_MAX_CONNECTIONS = {"postgresql": 100, "mysql": 151}
SERVER_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
MAX_DEFAULT_API_WORKERS = 4  # ironic/common/wsgi_service.py:32


def backend(connection: str) -> str:
    """``postgresql``, ``mysql``, ``sqlite``... of a ``[database]connection`` URL ('' when unset)."""
    if not connection:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(connection).get_backend_name()
    except ArgumentError as e:
        raise ConfigError(f"[database]connection is not a database URL: {e}") from None


def server_of(connection: str) -> str:
    """The server a URL points at, without user, password or database: ``postgresql 10.0.0.5:5432``."""
    from sqlalchemy.engine import make_url

    url = make_url(connection)
    name = url.get_backend_name()
    if name == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    port = url.port or DEFAULT_PORTS.get(name, "")
    return f"{name} {url.host or 'local socket'}:{port}"


def sqlite_single_process(fleet: Fleet) -> list[Result]:
    """FAIL on SQLite with several conductors or a json-rpc port (i.e. API and conductor apart).

    On SQLite the rings are built once and never refreshed (hash_ring.py:52-57), liveness
    is the online flag only (db/sqlalchemy/api.py:425-436), and Ironic warns or errors at
    start (command/conductor.py:47-58, command/api.py:34-42); the install guide says "You
    cannot have multiple conductors this way" (common-prerequisites.inc:44).
    """
    on_sqlite = [s for s in fleet.services if backend(s.conf.database.connection) == "sqlite"]
    if not on_sqlite:
        return ok("no service uses SQLite")
    json_rpc = [s for s in fleet.services if s.json_rpc]
    if len(fleet.conductors) > 1 or json_rpc:
        why = (f"{plural(len(fleet.conductors), 'conductor')}" if len(fleet.conductors) > 1
               else f"json-rpc in {labels(json_rpc)}")
        return [fail(f"{labels(on_sqlite)} use SQLite with {why}: SQLite allows one process (the "
                     "all-in-one `ironic` command); use PostgreSQL or MySQL")]
    return ok("SQLite with a single all-in-one process")


def api_processes(api: Service, override: int | None) -> int:
    """API worker processes: --api-workers, else [api]api_workers, else min(CPUs, 4).

    The same fallback as WSGIService (common/wsgi_service.py:177-181).
    """
    if override:
        return override
    return api.conf.api.api_workers or min(multiprocessing.cpu_count(), MAX_DEFAULT_API_WORKERS)


@dataclass
class _Budget:
    processes: int = 0
    connections: float = 0
    parts: list[str] = field(default_factory=list)  # "api 1: 4 x 55"
    unbounded: list[str] = field(default_factory=list)  # services whose pool has no limit
    per_conductor: Counter = field(default_factory=Counter)  # connections each -> conductors

    def describe(self) -> str:
        conductors = [f"{plural(n, 'conductor')} x {each:g}"
                      for each, n in sorted(self.per_conductor.items())]
        return "; ".join(self.parts + conductors)


def _per_process(s: Service) -> float:
    """max_pool_size + max_overflow; 0 / -1 mean no limit (oslo_db/options.py, SQLAlchemy QueuePool)."""
    pool, overflow = s.conf.database.max_pool_size, s.conf.database.max_overflow
    if pool == 0 or (overflow is not None and overflow < 0):
        return float("inf")
    return (pool or 0) + (overflow or 0)


def _max_connections(fleet: Fleet, server: str, name: str) -> tuple[int | None, str]:
    if fleet.max_connections and (fleet.max_connections_server in (None, server)):
        return fleet.max_connections, fleet.max_connections_source
    default = DEFAULT_MAX_CONNECTIONS.get(name)
    return default, f"{SERVER_NAMES.get(name, name)}'s default" if default else ""


def db_connection_budget(fleet: Fleet) -> list[Result]:
    """FAIL when the processes' pools can open more connections than the server allows.

    Each process has its own oslo.db pool of max_pool_size (5) + max_overflow (50). A
    conductor is one process (the cotyledon worker), an API service has api_workers.
    Seen as "QueuePool limit reached" / "too many connections" (BMO#618, sapcc helm-charts#3471).
    """
    budgets: dict[str, _Budget] = defaultdict(_Budget)
    skipped = []
    for s in fleet.services:
        connection = s.conf.database.connection
        name = backend(connection)
        if not name:
            skipped.append(s)
            continue
        if name == "sqlite":
            continue
        b = budgets[server_of(connection)]
        n = api_processes(s, fleet.api_workers) if s.role == API else 1
        each = _per_process(s)
        b.processes += n
        b.connections += n * each
        if each == float("inf"):
            b.unbounded.append(s.label)
        elif s.role == API:
            guessed = "" if fleet.api_workers or s.conf.api.api_workers else " (CPUs here)"
            b.parts.append(f"{s.role} {s.index}: {n} workers{guessed} x {each:g}")
        else:
            b.per_conductor[each] += 1
    out, fine = [], []
    for server, b in sorted(budgets.items()):
        limit, source = _max_connections(fleet, server, server.split()[0])
        if b.unbounded:
            out.append(fail(f"{server}: unbounded pool (max_pool_size 0 or max_overflow -1) in "
                            f"{', '.join(b.unbounded)}; set both so the sum fits max_connections"))
            continue
        if limit is None:
            fine.append(f"{server}: {b.connections:g} connections from {b.processes} processes "
                        "(limit unknown)")
            continue
        summary = (f"{server}: {plural(b.processes, 'process')} can open {b.connections:g} connections "
                   f"({b.describe()}; max_pool_size + max_overflow each, oslo.db defaults 5 + 50)")
        if b.connections > limit:
            out.append(fail(f"{summary} > max_connections {limit} ({source}); lower [database]max_pool_size "
                            "(1-5) and max_overflow, or raise max_connections"))
        else:
            fine.append(f"{summary} <= max_connections {limit} ({source})")
    if skipped:
        fine.append(f"not counted, no [database]connection: {labels(skipped)}")
    return out or ok("; ".join(fine) or "no database server configured")


def worker_pool(fleet: Fleet) -> list[Result]:
    """FAIL when a conductor would refuse to start because of its thread pool sizes.

    The same arithmetic as BaseConductorManager._init_executors (base_manager.py:137-184):
    reserved = int(workers_pool_size * reserved_workers_pool_percentage / 100),
    min = int(sync_power_state_workers + 2 * periodic_max_workers + 2), and it raises
    IncorrectConfiguration when min >= workers_pool_size - reserved. A reserved pool of
    exactly one thread fails too: futurist's DynamicThreadPoolExecutor keeps min_workers=1
    and raises ValueError unless min_workers < max_workers (futurist 3.5 _futures.py:343-344).
    """
    out = []
    for c in fleet.conductors:
        cc = c.conf.conductor
        total = cc.workers_pool_size
        reserved = int(total * cc.reserved_workers_pool_percentage / 100)
        remaining = total - reserved
        min_workers = int(cc.sync_power_state_workers + (2 * cc.periodic_max_workers) + 2)
        pool = (f"workers_pool_size {total} - {reserved} reserved ({cc.reserved_workers_pool_percentage}%) "
                f"= {remaining}")
        if min_workers >= remaining:
            out.append(fail(
                f"{c.label} will not start (IncorrectConfiguration): sync_power_state_workers "
                f"{cc.sync_power_state_workers} + 2 x periodic_max_workers {cc.periodic_max_workers} + 2 = "
                f"{min_workers} >= {pool}"))
        elif reserved == 1:
            out.append(fail(
                f"{c.label} will not start (ValueError from futurist): a reserved pool of 1 thread "
                f"({cc.reserved_workers_pool_percentage}% of workers_pool_size {total}) is below futurist's "
                "minimum of 2; change the percentage or the pool size so the reserve is 0 or 2+"))
    return out or ok(f"every conductor's workers_pool_size leaves room above its minimum workers "
                     f"({plural(len(fleet.conductors), 'conductor')})")
