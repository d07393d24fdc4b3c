"""Split the database's connection limit between every process that holds a pool.

Each conductor worker process and each API worker process opens its own oslo.db
pool, which can grow to ``max_pool_size + max_overflow`` connections (oslo.db's
defaults: 5 + 50). The sum over all processes on all hosts must stay under the
server's ``max_connections`` (PostgreSQL 100, MariaDB 151 by default) with some
connections left for ``ironic-dbsync``, ``ironic-status``, monitoring and
PostgreSQL's ``superuser_reserved_connections`` (3). When it does not, the
symptom is "QueuePool limit reached" or "too many connections", and a conductor
whose heartbeat waits on the pool is evicted from the ring (bug 1970484).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Below this a conductor's heartbeat, RPC handlers and periodic workers queue on the pool for
# most of a sync cycle; sessions are short, so a few connections go a long way, but not one.
MIN_PER_PROCESS = 4
DEFAULT_RESERVE = 10


@dataclass(frozen=True)
class PoolBudget:
    max_connections: int
    reserve: int
    conductor_processes: int
    api_workers: int
    per_process: int  # max_pool_size + max_overflow of every process
    max_pool_size: int  # connections kept open once used
    max_overflow: int  # opened on demand, closed when returned

    @property
    def processes(self) -> int:
        return self.conductor_processes + self.api_workers

    @property
    def worst_case(self) -> int:
        """Connections if every process fills its pool and overflow at once."""
        return self.processes * self.per_process

    def as_dict(self) -> dict:
        return {**asdict(self), "processes": self.processes, "worst_case": self.worst_case}


def split(max_connections: int, conductor_processes: int, api_workers: int,
          reserve: int = DEFAULT_RESERVE, base_pool_size: int | None = None) -> PoolBudget:
    """The largest equal share per process, with ``reserve`` connections kept free.

    The persistent part (``max_pool_size``) is a third of the share, and never more
    than the base config's ``max_pool_size`` (an operator who chose 1, as kolla-ansible
    and SAP do, keeps 1; 0 means "no limit" in oslo.db): idle connections then stay few
    while bursts still get the whole share through ``max_overflow``.
    """
    if max_connections < 1 or conductor_processes < 1 or api_workers < 0 or reserve < 0:
        raise ValueError("database budget: need max_connections >= 1, at least one conductor, "
                         "api_workers >= 0 and reserve >= 0")
    processes = conductor_processes + api_workers
    usable = max_connections - reserve
    per_process = usable // processes if usable > 0 else 0
    if per_process < MIN_PER_PROCESS:
        raise ValueError(
            f"database pool budget impossible: {processes} processes ({conductor_processes} conductors + "
            f"{api_workers} API workers) need at least {MIN_PER_PROCESS} connections each "
            f"({processes * MIN_PER_PROCESS}), but --db-max-connections {max_connections} minus {reserve} "
            f"reserved leaves {max(usable, 0)}; raise the server's max_connections or run fewer processes")
    cap = base_pool_size if base_pool_size else per_process
    pool = max(1, min(cap, per_process // 3))
    return PoolBudget(max_connections, reserve, conductor_processes, api_workers,
                      per_process, pool, per_process - pool)
