"""PostgreSQL for a stack with several conductors (SQLite allows one process).

Uses Debian's cluster tools: the cluster is started when it is down, and each
stack run gets a fresh database owned by an ``ironic`` role that logs in over
TCP on 127.0.0.1 with a password (Debian's default pg_hba allows that).
"""

from __future__ import annotations

import shutil
import subprocess

ROLE = "ironic"
PASSWORD = "ironic-scale-stack"  # loopback-only test database, never a production one


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or would not start."""


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise PostgresUnavailable(f"{what} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def ensure_running() -> None:
    """Start the first Debian cluster if it is down."""
    if not shutil.which("pg_lsclusters"):
        raise PostgresUnavailable(
            "PostgreSQL is not installed: run deploy/ironic-stack.sh (it installs Debian's "
            "postgresql) or apt-get install postgresql")
    lines = _run(["pg_lsclusters", "--no-header"], "pg_lsclusters").split()
    if len(lines) < 4:
        raise PostgresUnavailable("pg_lsclusters lists no cluster: create one with pg_createcluster")
    version, cluster, status = lines[0], lines[1], lines[3]
    if status != "online":
        _run(["pg_ctlcluster", version, cluster, "start"], f"pg_ctlcluster {version} {cluster} start")


def _psql(sql: str) -> str:
    return _run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A",
                 "-v", "ON_ERROR_STOP=1", "-c", sql], f"psql {sql.split()[0]}")


def fresh_database(name: str) -> str:
    """Drop and create database ``name``; return its SQLAlchemy URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r}: use letters, digits and _")
    ensure_running()
    if not _psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'").strip():
        _psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(f"CREATE DATABASE {name} OWNER {ROLE}")
    return f"postgresql+psycopg2://{ROLE}:{PASSWORD}@127.0.0.1/{name}"


def database_exists(name: str) -> bool:
    return bool(_psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip())


def drop_database(name: str) -> None:
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class DatabaseStats:
    """Transactions and rows read in one database so far, from pg_stat_database.

    One connection, kept open: sampling it every fraction of a second must not
    fork psql. PostgreSQL publishes a backend's counts at most once a second,
    so a figure for a window is accurate to about a second's worth of traffic.
    """

    def __init__(self, url: str):
        import psycopg2  # the [density] extra; only needed with PostgreSQL

        dsn = url.replace("postgresql+psycopg2://", "postgresql://")
        self.name = dsn.rsplit("/", 1)[1]
        self._conn = psycopg2.connect(dsn)
        self._conn.autocommit = True

    def read(self) -> dict[str, float]:
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT xact_commit + xact_rollback, tup_returned FROM pg_stat_database "
                        "WHERE datname = %s", (self.name,))
            xacts, rows = cur.fetchone()
        return {"db_transactions": float(xacts), "db_rows_read": float(rows)}

    def close(self) -> None:
        self._conn.close()
