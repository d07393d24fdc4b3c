"""SQL statements counted per database with pg_stat_statements, on the real PostgreSQL cluster.

The density test reports statements per sync cycle from these counters, so they must count
exactly what a client of the stack's database ran, nothing from another database, and none
of the statistics queries themselves.
"""

from __future__ import annotations

import random

import psycopg2
import pytest

from ironic_scale.stack import postgres
from ironic_scale.stack.pgstats import KINDS, DatabaseStats


@pytest.fixture
def two_databases():
    tag = f"{random.randrange(16**8):08x}"
    names = [f"ironic_scale_test_{tag}_a", f"ironic_scale_test_{tag}_b"]
    urls = [postgres.fresh_database(n) for n in names]
    yield urls
    for n in names:
        postgres.drop_database(n)


def _connect(url: str):
    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def test_statements_are_counted_per_database_and_by_kind(two_databases):
    a, b = two_databases
    with DatabaseStats(a, postgres.stats_database()) as stats:
        before = stats.read()
        for _ in range(5):  # our own reads run in the statistics database: never counted
            stats.read()
        assert stats.read()["db_statements"] == before["db_statements"]
        conn_a, conn_b = _connect(a), _connect(b)
        try:
            with conn_a.cursor() as cur:  # psycopg2 sends BEGIN first, COMMIT at the end
                cur.execute("CREATE TABLE t (x int)")
                cur.execute("INSERT INTO t VALUES (1), (2)")
                for _ in range(3):
                    cur.execute("SELECT x FROM t WHERE x = %s", (1,))
                cur.execute("UPDATE t SET x = 3 WHERE x = 2")
                cur.execute("WITH gone AS (DELETE FROM t WHERE x = 3 RETURNING x) SELECT count(*) FROM gone")
            conn_a.commit()
            with conn_b.cursor() as cur:  # another database: not counted
                for _ in range(7):
                    cur.execute("SELECT 1")
            conn_b.commit()
        finally:
            conn_a.close()
            conn_b.close()
        after = stats.read()
    delta = {k: after[k] - before[k] for k in after}
    assert delta["db_statements"] == 9
    assert {k: delta[f"db_statements_{k}"] for k in KINDS} == {
        "select": 4, "insert": 1, "update": 1, "delete": 0, "begin": 1, "commit": 1, "rollback": 0,
        "other": 1}  # CREATE TABLE
    assert delta["db_transactions"] == 1


def test_a_fresh_database_has_the_extension_and_the_server_preloads_it(two_databases):
    conn = _connect(two_databases[0])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
            assert cur.fetchone()[0] == 1
            # Fails with "must be loaded via shared_preload_libraries" unless the server preloads it.
            cur.execute("SELECT count(*) FROM pg_stat_statements")
    finally:
        conn.close()
