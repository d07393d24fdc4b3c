"""PostgreSQL for a stack with several conductors (SQLite allows one process).

Uses Debian's cluster tools: the cluster is started when it is down, and each
stack run gets a fresh database owned by an ``ironic`` role that logs in over
TCP on 127.0.0.1 with a password (Debian's default pg_hba allows that). The
server is made to preload pg_stat_statements (one ALTER SYSTEM and restart, the
first time), so that the density test can count the statements Ironic issues.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable

ROLE = "ironic"
PASSWORD = "ironic-scale-stack"  # loopback-only test database, never a production one
STATEMENTS = "pg_stat_statements"
STATS_DATABASE = "ironic_scale_stats"  # where the density test's statistics queries run


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or would not start."""


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise PostgresUnavailable(f"{what} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def ensure_running(say: Callable[[str], None] | None = None) -> None:
    """Start the first Debian cluster if it is down, with pg_stat_statements preloaded.

    The density test counts SQL statements with pg_stat_statements, which only works when
    the server loaded it at start: when it is missing, it is added with ALTER SYSTEM and the
    cluster restarted, once (``say`` is told; stderr by default).
    """
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
    libraries = [x.strip().strip('"') for x in _psql("SHOW shared_preload_libraries").split(",")]
    if STATEMENTS not in libraries:
        _preload_statements(version, cluster, [x for x in libraries if x] + [STATEMENTS], say)


def _preload_statements(version: str, cluster: str, libraries: list[str],
                        say: Callable[[str], None] | None) -> None:
    """ALTER SYSTEM, then restart; refused while anyone else is connected (a restart cuts them off)."""
    others = _psql("SELECT count(*) || ' (' || coalesce(string_agg(DISTINCT datname, ', '), '') || ')' "
                   "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                   "AND pid <> pg_backend_pid()").strip()
    if not others.startswith("0 "):
        raise PostgresUnavailable(
            f"counting SQL statements needs {STATEMENTS} in shared_preload_libraries and a restart of "
            f"cluster {version}/{cluster}, but other clients are connected: {others}; stop them first")
    quoted = ", ".join(f"'{x}'" for x in libraries)
    _psql(f"ALTER SYSTEM SET shared_preload_libraries = {quoted}")
    (say or _stderr)(f"PostgreSQL: added {STATEMENTS} to shared_preload_libraries (ALTER SYSTEM) and "
                     f"restarting cluster {version}/{cluster} to load it (needed to count SQL statements; "
                     "done once)")
    _run(["pg_ctlcluster", version, cluster, "restart"], f"pg_ctlcluster {version} {cluster} restart")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _psql(sql: str, database: str = "postgres") -> str:
    """One statement as the postgres superuser (peer authentication through runuser)."""
    return _run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A", "-d", database,
                 "-v", "ON_ERROR_STOP=1", "-c", sql], f"psql {sql.split()[0]}")


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r}: use letters, digits and _")


def url(name: str) -> str:
    """SQLAlchemy URL of database ``name`` as the ``ironic`` role over TCP on loopback."""
    return f"postgresql+psycopg2://{ROLE}:{PASSWORD}@127.0.0.1/{name}"


def fresh_database(name: str) -> str:
    """Drop and create database ``name`` (with pg_stat_statements' views); return its SQLAlchemy URL."""
    _check_name(name)
    ensure_running()
    _ensure_role()
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(f"CREATE DATABASE {name} OWNER {ROLE}")
    _psql(f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS}", database=name)
    return url(name)


def stats_database() -> str:
    """URL of the database the density test reads statistics from, created once.

    Its own queries then run in a database of their own: they never count as the
    stack's transactions or statements.
    """
    ensure_running()
    _ensure_role()
    if not database_exists(STATS_DATABASE):
        _psql(f"CREATE DATABASE {STATS_DATABASE} OWNER {ROLE}")
    _psql(f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS}", database=STATS_DATABASE)
    return url(STATS_DATABASE)


def _ensure_role() -> None:
    if not _psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'").strip():
        _psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")


def database_exists(name: str) -> bool:
    _check_name(name)
    return bool(_psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip())


def drop_database(name: str) -> None:
    _check_name(name)
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
