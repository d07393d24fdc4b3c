"""What one stack database has done so far: SQL statements, transactions, rows read.

Read by the density test's sampler several times a second over one connection
kept open (sampling must not fork ``psql``), from a database of its own
(``postgres.stats_database``), so that these queries never count as the stack's.

- Statements come from ``pg_stat_statements`` (summed ``calls`` of the stack
  database's ``dbid``), updated as each statement ends. They are sorted by their
  first keyword (select, insert, update, delete, begin, commit, rollback; SHOW,
  SAVEPOINT, DDL and the like are "other"), looked up once per statement shape by
  ``queryid``: reading query texts every sample would make the server read its
  whole text file each time. If PostgreSQL evicts entries (more shapes than
  ``pg_stat_statements.max``) a window's count is too low; ``db_statements_evicted``
  says when that happened.
- Transactions are the COMMIT and ROLLBACK statements among them (SQLAlchemy never
  runs Ironic's sessions in autocommit), for the same reason: pg_stat_database's
  own count is published at most once a second, and by a backend gone idle up to
  10 s later (PostgreSQL 15's idle flush), long after a sync cycle's burst.
- Rows read (``tup_returned``) only exist in pg_stat_database, with that delay.
"""

from __future__ import annotations

import re
from typing import Any

KINDS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "other")
_TOKENS = re.compile(r"[()]|[a-z_]+")


def statement_kind(query: str) -> str:
    """One of KINDS, from the statement's first keyword
    outside parentheses, so a WITH query counts as its main statement (a CTE's name, AS and
    commas are passed over). Literals are no trap: pg_stat_statements shows them as $1, $2."""
    tokens = _TOKENS.findall(query.lower())
    if not tokens:
        return "other"
    if tokens[0] != "with":
        return tokens[0] if tokens[0] in KINDS else "other"
    depth = 0
    for token in tokens[1:]:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token in KINDS:
            return token
    return "other"


class DatabaseStats:
    """Counters of one database (by name), read from the statistics database at ``stats_url``."""

    def __init__(self, url: str, stats_url: str):
        import psycopg2  # the [density] extra; only needed with PostgreSQL

        self.name = url.rsplit("/", 1)[1]
        self._conn = psycopg2.connect(stats_url.replace("postgresql+psycopg2://", "postgresql://"))
        self._conn.autocommit = True
        self._kinds: dict[int, str] = {}  # queryid -> kind

    def read(self) -> dict[str, float]:
        """Monotonic counters: ``db_statements``, ``db_statements_<kind>``, ``db_transactions``,
        ``db_rows_read`` and ``db_statements_evicted`` (cluster-wide)."""
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT oid, tup_returned FROM pg_stat_database JOIN pg_database USING (datname) "
                        "WHERE datname = %s", (self.name,))
            row = cur.fetchone()
            if row is None:
                raise RuntimeError(f"no database {self.name!r} in pg_stat_database")
            dbid, rows = row
            cur.execute("SELECT queryid, sum(calls)::bigint FROM pg_stat_statements(false) WHERE dbid = %s "
                        "GROUP BY queryid", (dbid,))
            calls: dict[int, int] = dict(cur.fetchall())
            unknown = [q for q in calls if q is not None and q not in self._kinds]
            if unknown:
                cur.execute("SELECT DISTINCT ON (queryid) queryid, query FROM pg_stat_statements(true) "
                            "WHERE dbid = %s AND queryid = ANY(%s)", (dbid, unknown))
                self._kinds.update((q, statement_kind(text or "")) for q, text in cur.fetchall())
            cur.execute("SELECT dealloc FROM pg_stat_statements_info")
            (evicted,) = cur.fetchone()
        out = {"db_rows_read": float(rows), "db_statements": float(sum(calls.values())),
               "db_statements_evicted": float(evicted)}
        for kind in KINDS:
            out[f"db_statements_{kind}"] = 0.0
        for q, n in calls.items():
            out[f"db_statements_{self._kinds.get(q, 'other')}"] += n
        out["db_transactions"] = out["db_statements_commit"] + out["db_statements_rollback"]
        return out

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "DatabaseStats":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
