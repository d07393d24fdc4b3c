"""Locust users that load Ironic's REST API the way operators and tooling do.

Run by :func:`ironic_scale.density.apiload.run_api_load` in a subprocess (locust
monkey-patches the whole interpreter with gevent, so it never runs inside a
conductor, a test runner or the density harness itself), or directly::

    locust -f ironic_scale/density/locustfile.py --headless -u 20 -t 60s --host http://127.0.0.1:6385

Three equally weighted reads: a paged node list, a node's detail and its
power state, i.e. what dashboards, ``baremetal node list`` and Nova's power
sync ask for while the conductor runs its own power-sync cycles. Requests are
named by template so stats aggregate per request type, not per node.

Environment variables (all optional):

``IRONIC_SCALE_LOCUST_PAGE_SIZE``  ``limit`` of the paged list (default 100).
``IRONIC_SCALE_LOCUST_WAIT_MAX``   think time per user is uniform in [0, this] s
                                   (default 0.1; 0 means back-to-back requests).
``IRONIC_SCALE_LOCUST_MAX_UUIDS``  how many node UUIDs to discover for the
                                   detail/state reads (default 2000).
"""

from __future__ import annotations

import json
import logging
import os
import random
import urllib.request

import gevent
from locust import FastHttpUser, between, constant, events, task
from locust.runners import MasterRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from ironic_scale.density.apiload import API_VERSION, NAME_DETAIL, NAME_LIST, NAME_STATES

LOG = logging.getLogger(__name__)

PAGE_SIZE = int(os.environ.get("IRONIC_SCALE_LOCUST_PAGE_SIZE", "100"))
WAIT_MAX = float(os.environ.get("IRONIC_SCALE_LOCUST_WAIT_MAX", "0.1"))
MAX_UUIDS = int(os.environ.get("IRONIC_SCALE_LOCUST_MAX_UUIDS", "2000"))
HEADERS = {"X-OpenStack-Ironic-API-Version": API_VERSION, "Accept": "application/json"}

# Used when discovery found no node: the detail/state reads still go out and
# fail (404 or connection error), so an empty or unreachable API shows up as
# failures in the report instead of as a quietly missing request type.
NO_NODE = "00000000-0000-0000-0000-000000000000"

_uuids: list[str] = []


def discover_uuids(host: str, cap: int = MAX_UUIDS, timeout: float = 60.0) -> list[str]:
    """Page through ``/v1/nodes?fields=uuid`` once, up to ``cap`` UUIDs.

    Plain urllib rather than the locust client, so discovery is not counted in
    the measured stats (locust clears stats just before ``test_start``).
    """
    uuids: list[str] = []
    marker = None
    while len(uuids) < cap:
        query = f"fields=uuid&limit={min(1000, cap - len(uuids))}" + (f"&marker={marker}" if marker else "")
        req = urllib.request.Request(f"{host.rstrip('/')}/v1/nodes?{query}", headers=HEADERS)
        with urllib.request.urlopen(req, timeout=timeout) as rsp:
            page = [n["uuid"] for n in json.load(rsp)["nodes"]]
        uuids += page
        if not page:
            break
        marker = page[-1]
    return uuids


@events.test_start.add_listener
def _discover(environment, **_kwargs) -> None:
    """Fetch node UUIDs once per load process, before any user starts."""
    if isinstance(environment.runner, MasterRunner) or not environment.host:
        return  # a distributed master sends no requests; no host means nothing to discover
    try:
        _uuids[:] = discover_uuids(environment.host)
    except (OSError, ValueError, KeyError, TypeError) as e:
        LOG.error("node discovery at %s failed: %s", environment.host, e)
        _uuids[:] = []
    if not _uuids:
        LOG.warning("no nodes discovered; detail and state reads will use %s and fail", NO_NODE)
    else:
        LOG.info("discovered %d node UUIDs", len(_uuids))


@events.init.add_listener
def _fresh_clock(environment, **_kwargs) -> None:
    """Make ``-t`` mean what it says.

    gevent's loop caches "now" and nothing has run it since locust started
    importing, so the run-time timer armed right after this event would fire
    early by the whole start-up time (about a second on a busy box).
    """
    gevent.get_hub().loop.update_now()


@events.quitting.add_listener
def _final_csv(environment, **_kwargs) -> None:
    """Let locust's CSV writer take one more turn now that the users have stopped.

    It rewrites ``<prefix>_stats.csv`` once a second and does not write again
    on exit, so without this the file misses up to the last second of requests.
    """
    options = environment.parsed_options
    if options is not None and getattr(options, "csv_prefix", None):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)


class IronicApiUser(FastHttpUser):
    """One API client: paged list, node detail and power-state reads, equal weights.

    FastHttpUser (geventhttpclient) needs several times less CPU per request
    than the requests-based HttpUser, which matters because locust shares the
    machine with the API and conductor it measures.
    """

    wait_time = between(0, WAIT_MAX) if WAIT_MAX > 0 else constant(0)
    default_headers = HEADERS
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.marker: str | None = None  # this user's position in the list walk

    @task
    def list_nodes(self) -> None:
        """One page forward per call; back to the first page after the last one."""
        path = f"/v1/nodes?limit={PAGE_SIZE}" + (f"&marker={self.marker}" if self.marker else "")
        with self.client.get(path, name=NAME_LIST, catch_response=True) as rsp:
            if _failed(rsp):
                self.marker = None  # e.g. the marker node was deleted: restart the walk
                return
            try:
                nodes = rsp.json()["nodes"]
            except (ValueError, KeyError, TypeError) as e:
                self.marker = None
                rsp.failure(f"bad node list: {e!r}")
                return
            self.marker = nodes[-1]["uuid"] if len(nodes) == PAGE_SIZE else None

    @task
    def node_detail(self) -> None:
        self._get_node("", NAME_DETAIL, "provision_state")

    @task
    def power_state(self) -> None:
        self._get_node("/states", NAME_STATES, "power_state")

    def _get_node(self, suffix: str, name: str, field: str) -> None:
        """GET one random discovered node; a 200 without ``field`` counts as a failure."""
        uuid = random.choice(_uuids) if _uuids else NO_NODE
        with self.client.get(f"/v1/nodes/{uuid}{suffix}", name=name, catch_response=True) as rsp:
            if _failed(rsp):
                return
            try:
                if field not in rsp.json():
                    rsp.failure(f"no {field} in response")
            except ValueError as e:
                rsp.failure(f"bad JSON: {e!r}")


def _failed(rsp) -> bool:
    """A connection error or HTTP >= 400, which locust itself records with its message."""
    return getattr(rsp, "error", None) is not None
