"""Locust load against a real Ironic API; stats parsed from locust's own CSV.

Nothing is mocked: a real all-in-one Ironic, real locust subprocesses, and a
really closed loopback port for the failure case.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ironic_scale.density.apiload import (
    REQUEST_NAMES,
    ApiLoadFailed,
    format_table,
    run_api_load,
)
from tests.integration.ironic_stack import IronicStack

NODES = 30
PAGE = 10  # 30 nodes in pages of 10: the list walk pages forward and wraps several times


@pytest.fixture
def stack(tmp_path):
    s = IronicStack(tmp_path / "ironic")
    s.start()
    try:
        for i in range(NODES):
            s.request("POST", "/v1/nodes", {"name": f"load-{i}", "driver": "ipmi",
                                            "driver_info": {"ipmi_address": "127.0.0.1"}})
        yield s
    finally:
        s.stop()


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_load_reads_every_request_type_without_failures(stack, tmp_path):
    assert len(stack.request("GET", "/v1/nodes?limit=100")["nodes"]) == NODES

    load = run_api_load(stack.url, users=4, duration=8, work_dir=tmp_path / "load", page_size=PAGE)

    print("\n" + format_table({"ipmi": load}))
    assert set(load.rows) == set(REQUEST_NAMES), load.rows.keys()
    for name, row in load.rows.items():
        assert row.requests > 0, name
        assert row.failures == 0, (name, (tmp_path / "load" / "locust_failures.csv").read_text())
        assert row.p50_ms <= row.p95_ms <= row.p99_ms, row
    assert load.exceptions == 0, (tmp_path / "load" / "locust_exceptions.csv").read_text()
    assert load.aggregated.requests == sum(r.requests for r in load.rows.values())
    assert load.aggregated.failure_rate == 0.0 and load.aggregated.rps > 0
    report = json.loads(json.dumps(load.to_json()))
    assert report["params"]["page_size"] == PAGE
    assert report["rows"][REQUEST_NAMES[0]]["requests"] == load.rows[REQUEST_NAMES[0]].requests


def test_refused_connections_are_a_result_not_an_error(closed_port, tmp_path):
    load = run_api_load(f"http://127.0.0.1:{closed_port}", users=2, duration=2, work_dir=tmp_path)

    assert load.aggregated.requests > 0
    assert load.aggregated.failure_rate == 1.0
    assert set(load.rows) == set(REQUEST_NAMES)  # detail/state reads still go out without nodes
    assert all(row.failure_rate == 1.0 for row in load.rows.values()), load.rows
    assert "Connection refused" in (tmp_path / "locust_failures.csv").read_text()
    assert "100.00" in format_table({"closed": load})
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # gevent stayed in the child


def test_locust_that_cannot_start_raises_with_its_log(tmp_path):
    with pytest.raises(ApiLoadFailed, match="spawn-rate"):
        run_api_load("http://127.0.0.1:9", users=1, duration=1, work_dir=tmp_path, spawn_rate=0)
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        run_api_load("127.0.0.1:9", users=1, duration=1, work_dir=tmp_path)


def test_apiload_does_not_import_locust():
    """Importing the runner must not drag gevent's monkey-patching into the caller."""
    code = ("import sys, ironic_scale.density.apiload; "
            "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
