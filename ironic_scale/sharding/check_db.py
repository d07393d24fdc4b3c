"""Checks that need the database: dead conductors' locks, stale rows, clocks, nodes nobody serves.

One read-only snapshot (plain SQL on Ironic's tables, so it needs no Ironic
globals) is taken first; the checks are functions over it. Time is the database
server's clock, read *after* the conductor rows, so a heartbeat landing during
the read cannot look like a clock running ahead. Ironic judges liveness with the
reader's ``utcnow()`` instead (db/sqlalchemy/api.py:425-436): this is the
reference every conductor's clock is compared with.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import fail, ok, plural, warn
from ironic_scale.sharding.confload import ConfigError, Service
from ironic_scale.sharding.names import uses_groups

SKEW_SLACK = 5.0  # seconds past heartbeat_interval before an online row counts as late
AHEAD_SLACK = 1.0  # a beat up to 1 s in the future is timestamp rounding, not skew
EXAMPLES = 5

_NOW_SQL = {
    "postgresql": "SELECT clock_timestamp() AT TIME ZONE 'UTC'",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}
_MAX_CONNECTIONS_SQL = {"postgresql": "SHOW max_connections", "mysql": "SELECT @@max_connections"}


@dataclass(frozen=True)
class ConductorRow:
    hostname: str
    group: str
    online: bool
    age: float | None  # database now - updated_at, seconds (None: never updated)
    hardware_types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reservation:
    node: str  # uuid
    holder: str  # nodes.reservation
    age: float | None  # since the node row was last updated (when the lock was taken, at the latest)


@dataclass
class Snapshot:
    backend: str
    conductors: list[ConductorRow]
    node_keys: Counter  # (group, driver) -> nodes
    reservations: list[Reservation]
    max_connections: int | None = None
    hosts_by_name: dict[str, ConductorRow] = field(init=False)

    def __post_init__(self) -> None:
        self.hosts_by_name = {c.hostname: c for c in self.conductors}


def _when(value) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value))  # SQLite returns text


def _age(now: datetime.datetime, then) -> float | None:
    then = _when(then)
    return None if then is None else (now - then).total_seconds()


def read(connection: str) -> Snapshot:
    """Read conductors, their hardware types, node counts per key and reservations."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from ironic_scale.sharding.check_capacity import backend as backend_of
    from ironic_scale.sharding.check_capacity import server_of

    name = backend_of(connection)
    if not name:
        raise ConfigError("--db: the first conductor's config has no [database]connection")
    where = server_of(connection)
    try:
        engine = sa.create_engine(make_url(connection), poolclass=NullPool)
        with engine.connect() as db:
            rows = db.execute(sa.text(
                "SELECT id, hostname, conductor_group, online, updated_at, created_at FROM conductors")).all()
            now = _when(db.execute(sa.text(_NOW_SQL.get(name, "SELECT CURRENT_TIMESTAMP"))).scalar())
            ifaces = db.execute(sa.text(
                "SELECT DISTINCT conductor_id, hardware_type FROM conductor_hardware_interfaces")).all()
            keys = db.execute(sa.text(
                "SELECT lower(coalesce(conductor_group, '')), driver, count(*) FROM nodes "
                "GROUP BY 1, 2")).all()
            held = db.execute(sa.text(
                "SELECT uuid, reservation, coalesce(updated_at, created_at) FROM nodes "
                "WHERE reservation IS NOT NULL")).all()
            limit = (db.execute(sa.text(_MAX_CONNECTIONS_SQL[name])).scalar()
                     if name in _MAX_CONNECTIONS_SQL else None)
        engine.dispose()
    except sa.exc.SQLAlchemyError as e:
        first = str(getattr(e, "orig", e) or e).strip().splitlines()[0]
        raise ConfigError(f"--db: cannot read Ironic's tables on {where}: {first}") from None
    types: dict[int, set[str]] = defaultdict(set)
    for conductor_id, hw_type in ifaces:
        types[conductor_id].add(hw_type)
    conductors = [ConductorRow(r[1], (r[2] or "").lower(), bool(r[3]), _age(now, r[4] or r[5]),
                               frozenset(types[r[0]])) for r in rows]
    return Snapshot(name, conductors, Counter({(g, d): n for g, d, n in keys}),
                    [Reservation(u, h, _age(now, t)) for u, h, t in held],
                    int(limit) if limit is not None else None)


def alive(snap: Snapshot, heartbeat_timeout: int) -> list[ConductorRow]:
    """Conductors every ring includes: online and beat within heartbeat_timeout (api.py:425-436)."""
    if snap.backend == "sqlite" or heartbeat_timeout <= 0:
        return [c for c in snap.conductors if c.online]
    return [c for c in snap.conductors if c.online and c.age is not None and c.age <= heartbeat_timeout]


def _secs(age: float | None) -> str:
    return "never" if age is None else f"{age:.0f} s"


def _examples(items: list[str]) -> str:
    more = f" (+{len(items) - EXAMPLES} more)" if len(items) > EXAMPLES else ""
    return ", ".join(items[:EXAMPLES]) + more


def orphaned_reservations(snap: Snapshot, conf: Service) -> list[Result]:
    """Nodes locked by a conductor that is not alive, with the lock's age.

    The new owner's _check_orphan_nodes frees locks held by rows whose updated_at is older
    than heartbeat_timeout (manager.py:1950-1977, api.py:1596-1610); a holder with no row at
    all is never in that list, so its locks stay until someone clears them by hand.
    """
    living = {c.hostname for c in alive(snap, conf.conf.conductor.heartbeat_timeout)}
    gone, dead = [], []
    for r in sorted(snap.reservations, key=lambda r: -(r.age or 0)):
        if r.holder in living:
            continue
        row = snap.hosts_by_name.get(r.holder)
        text = f"{r.node} by {r.holder} ({_secs(r.age)})"
        if row is None:
            gone.append(text)
        else:
            timeout = conf.conf.conductor.heartbeat_timeout
            fresh = row.age is not None and row.age <= timeout
            state = ("silent, online flag still set" if row.online
                     else "stopping, still beating" if fresh else "offline")
            dead.append(f"{text}, holder {state}, last beat {_secs(row.age)} ago")
    out = []
    if gone:
        out.append(fail(f"{plural(len(gone), 'node')} locked by conductors with no row, which Ironic never "
                        "clears (start a conductor with that name once, it frees its locks at start, or set "
                        f"nodes.reservation to NULL): {_examples(gone)}"))
    if dead:
        out.append(warn(f"{plural(len(dead), 'node')} locked by conductors that are not alive (the new owner "
                        f"frees them within check_provision_state_interval): {_examples(dead)}"))
    return out or ok(f"{plural(len(snap.reservations), 'reservation')}, all held by alive conductors")


def stale_conductors(snap: Snapshot, conf: Service) -> list[Result]:
    """Online rows silent for heartbeat_timeout (crashed, stalled or clock behind), and offline rows.

    Offline rows stay until conductor_cleanup_timeout (14 days); many of them mean renames
    (a changed host or json-rpc port) or ephemeral names, each a full take-over.
    """
    timeout = conf.conf.conductor.heartbeat_timeout
    silent = [c for c in snap.conductors if c.online and (c.age is None or c.age > timeout)]
    offline = [c for c in snap.conductors if not c.online]
    out = []
    if silent and snap.backend != "sqlite":
        out.append(warn(f"{plural(len(silent), 'conductor')} marked online but silent for more than "
                        f"heartbeat_timeout {timeout} s (crashed, stalled, or clock behind): "
                        + _examples([f"{c.hostname} ({_secs(c.age)})" for c in silent])))
    if offline:
        out.append(warn(f"{plural(len(offline), 'offline conductor row')} (stopped, renamed, or an ephemeral "
                        "name; kept until conductor_cleanup_timeout): "
                        + _examples([f"{c.hostname} (last beat {_secs(c.age)} ago)" for c in offline])))
    return out or ok(f"{plural(len(snap.conductors), 'conductor row')}, all online and beating")


def clock_skew(snap: Snapshot, conf: Service) -> list[Result]:
    """Online, live rows whose last beat is in the future or later than heartbeat_interval + 5 s.

    A conductor writes updated_at = its own utcnow() every heartbeat_interval
    (api.py:1523-1535); readers compare it with theirs. Ahead: it stays "alive" after it
    dies; behind by ~heartbeat_timeout: it looks dead and its nodes move away.
    """
    interval, timeout = conf.conf.conductor.heartbeat_interval, conf.conf.conductor.heartbeat_timeout
    late_after = interval + SKEW_SLACK
    ahead, late = [], []
    for c in snap.conductors:
        if not c.online or c.age is None or (timeout > 0 and c.age > timeout):
            continue  # offline or already stale: stale_conductors reports those
        if c.age < -AHEAD_SLACK:
            ahead.append(f"{c.hostname} ({-c.age:.0f} s ahead)")
        elif c.age > late_after:
            late.append(f"{c.hostname} (last beat {c.age:.0f} s ago)")
    out = []
    if ahead:
        out.append(warn(f"clock ahead of the database: {_examples(ahead)}; fix NTP on those hosts"))
    if late:
        out.append(warn(f"beat later than heartbeat_interval {interval} + {SKEW_SLACK:g} s: "
                        f"{_examples(late)} "
                        "(clock behind, or the process is starved); fix NTP or load"))
    return out or ok(f"every live conductor beat within 0-{late_after:g} s of the database's clock")


def orphaned_nodes(snap: Snapshot, conf: Service) -> list[Result]:
    """FAIL for nodes whose ring key (group:driver) has no live conductor; WARN when it has one.

    Such nodes get NoValidHost and no power sync (doc/source/admin/conductor-groups.rst);
    keys as get_active_hardware_type_dict builds them (api.py:1573-1594).
    """
    grouped = uses_groups(conf.conf.pin_release_version)
    serving: dict[str, set[str]] = defaultdict(set)
    for c in alive(snap, conf.conf.conductor.heartbeat_timeout):
        for hw in c.hardware_types:
            serving[f"{c.group}:{hw}" if grouped else hw].add(c.hostname)
    nodes: Counter = Counter()
    for (group, driver), n in snap.node_keys.items():
        nodes[f"{group}:{driver}" if grouped else driver] += n
    orphans = {k: n for k, n in nodes.items() if not serving.get(k)}
    single = {k: n for k, n in nodes.items() if len(serving.get(k, ())) == 1}
    out = []
    if orphans:
        out.append(fail(f"{plural(sum(orphans.values()), 'node')} on keys no live conductor serves (no power "
                        "sync, NoValidHost): "
                        + _examples([f"{k!r} {n}" for k, n in sorted(orphans.items())])))
    if single:
        out.append(warn(f"{plural(sum(single.values()), 'node')} on keys served by one live conductor: "
                        + _examples([f"{k!r} {n} by {next(iter(serving[k]))}"
                                     for k, n in sorted(single.items())])))
    return out or ok(f"{plural(sum(nodes.values()), 'node')} on {plural(len(nodes), 'key')}, each served by "
                     "2+ live conductors")


DB_CHECKS = (
    ("db_orphaned_reservations", orphaned_reservations),
    ("db_stale_conductors", stale_conductors),
    ("db_clock_skew", clock_skew),
    ("db_orphaned_nodes", orphaned_nodes),
)


def run(snap: Snapshot, conductor: Service) -> list[tuple[str, Result]]:
    """Every DB check, with the heartbeat settings of ``conductor`` (the config the DB URL came from)."""
    return [(name, r) for name, check in DB_CHECKS for r in check(snap, conductor)]
