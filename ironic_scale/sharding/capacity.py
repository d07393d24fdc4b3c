"""How many conductor processes and hosts a fleet needs, from measured per-node cost and memory.

A conductor process is one GIL: its power sync of ``load`` nodes costs
``load * cpu_ms_per_node`` of one core per ``sync_power_state_interval``, and must
fit in ``budget`` of that interval (the rest is for the other periodics and RPC).
The busiest process carries the ring's imbalance, so the load is not N/k but
the busiest conductor's count on the real ring (tooz, synthetic UUIDs, the
names the generator gives), and it must still fit after the worst host is lost.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ironic_scale.sharding import names
from ironic_scale.sharding.model import Conductor, Node, RingSettings
from ironic_scale.sharding.ring import Rings

HOSTS_LOST_SAMPLED = 8  # hosts tried as "the one lost"; the ring is host-blind, so a sample finds the worst


class CapacityError(ValueError):
    """A measurement file without what the model needs."""


@dataclass(frozen=True)
class Measured:
    """Per-node cost and memory from one method of a bench or density run."""

    source: str
    method: str
    size: int  # the largest fleet it was measured at
    cpu_ms_per_node: float
    conductor_rss_mib: tuple[float, float] | None  # (intercept MiB, MiB per node) fitted over sizes
    api_rss_mib: tuple[float, float] | None

    def rss(self, fit: tuple[float, float] | None, nodes: int) -> float | None:
        return None if fit is None else fit[0] + fit[1] * nodes


def _fit(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares line through (nodes, MiB); one point gives a flat line."""
    if not points:
        return None
    if len({x for x, _ in points}) < 2:
        return (points[-1][1], 0.0)
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return (my - slope * mx, max(0.0, slope))


def load_measurement(path: Path, method: str | None = None) -> Measured:
    """Read a ``density`` or ``bench`` JSON; ``method`` defaults to the cheapest one at the largest size."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CapacityError(f"{path}: {e}") from None
    kind = doc.get("kind") or doc.get("tool") or ""
    rows: list[dict[str, Any]] = doc.get("rows") or []
    if kind not in ("ironic-scale density", "ironic-scale bench") or not rows:
        raise CapacityError(f"{path}: not an ironic-scale density or bench result")
    density = kind == "ironic-scale density"
    cpu_key = "conductor_cpu_ms_per_node" if density else "cpu_ms_per_node"
    rows = [r for r in rows if r.get("fault", "none") == "none" and (r.get("summary") or {}).get(cpu_key)]
    methods = sorted({r["method"] for r in rows})
    if method is None:
        largest = max(r["size"] for r in rows)
        method = min((r for r in rows if r["size"] == largest),
                     key=lambda r: r["summary"][cpu_key]["median"])["method"]
    mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["size"])
    if not mine:
        raise CapacityError(f"{path}: no method {method!r}; it has {', '.join(methods)}")
    top = mine[-1]
    if density:
        cond = _fit([(r["size"], r["rss_mib"]["conductor"]) for r in mine
                     if (r.get("rss_mib") or {}).get("conductor")])
        api = _fit([(r["size"], r["rss_mib"]["api"]) for r in mine if (r.get("rss_mib") or {}).get("api")])
    else:  # bench: the poller's own growth, no Ironic around it
        cond = _fit([(r["size"], r["summary"]["rss_mib"]["median"]) for r in mine
                     if r["summary"].get("rss_mib")])
        api = None
    return Measured(str(path), method, top["size"], top["summary"][cpu_key]["median"], cond, api)


@dataclass
class Fleet:
    """What the model is asked for."""

    nodes: int
    sync_interval: int = 60  # [conductor]sync_power_state_interval, s
    budget: float = 0.5  # share of one core per interval the sync may use
    per_host: int = 2  # conductor processes per host (one per core, minus what the host needs)
    exponent: int = 5
    algorithm: str = "md5"
    seed: int = 0


@dataclass
class Answer:
    nodes: int
    method: str
    cpu_ms_per_node: float
    capacity_per_process: int  # nodes one process syncs within budget
    processes: int
    hosts: int
    per_host: int
    busiest_nodes: int  # busiest process with every host up
    busiest_after_host_loss: int  # busiest process after the worst sampled host is lost
    max_over_mean: float
    busiest_cycle_cpu_s: float  # the busiest process's sync CPU per cycle after a host loss
    conductor_rss_mib: float | None  # per conductor process, at this fleet size
    api_worker_rss_mib: float | None
    host_rss_mib: float | None  # per_host conductors

    def to_dict(self) -> dict:
        return asdict(self)


def _fleet_nodes(count: int, seed: int) -> list[Node]:
    rng = random.Random(seed)
    return [Node(str(uuid.UUID(int=rng.getrandbits(128), version=4)), "ipmi") for _ in range(count)]


def _busiest(hosts: int, per_host: int, nodes: list[Node], settings: RingSettings,
             lose: str | None = None) -> int:
    conductors = [Conductor(i.name, "", {"ipmi"}, machine=i.machine)
                  for h in range(hosts) for i in names.host_instances(f"ironic-{h + 1}", per_host)
                  if i.machine != lose]
    rings = Rings(conductors, settings)
    counts: dict[str | None, int] = {}
    for n in nodes:
        owner = rings.owner(n)
        counts[owner] = counts.get(owner, 0) + 1
    return max(counts.values())


def plan_capacity(fleet: Fleet, measured: Measured, max_hosts: int = 2000) -> Answer:
    """The fewest hosts whose busiest process stays within budget after losing one host."""
    if measured.cpu_ms_per_node <= 0:
        raise CapacityError("measured CPU per node is zero")
    capacity = int(fleet.budget * fleet.sync_interval * 1000 / measured.cpu_ms_per_node)
    if capacity < 1:
        raise CapacityError(f"one node costs {measured.cpu_ms_per_node} ms: more than the budget of "
                            f"{fleet.budget:.0%} of a {fleet.sync_interval} s interval")
    settings = RingSettings(fleet.exponent, fleet.algorithm)
    nodes = _fleet_nodes(fleet.nodes, fleet.seed)
    hosts = max(2, -(-fleet.nodes // (capacity * fleet.per_host)) + 1)  # at least N+1 hosts
    while hosts <= max_hosts:
        worst = 0
        for h in range(min(hosts, HOSTS_LOST_SAMPLED)):
            worst = max(worst, _busiest(hosts, fleet.per_host, nodes, settings, lose=f"ironic-{h + 1}"))
            if worst > capacity:
                break
        if worst <= capacity:
            break
        hosts += max(1, hosts // 20)  # grow 5 % at a time: the imbalance term shrinks slowly
    else:
        raise CapacityError(f"no layout up to {max_hosts} hosts fits {fleet.nodes} nodes")
    processes = hosts * fleet.per_host
    busiest = _busiest(hosts, fleet.per_host, nodes, settings)
    cond = measured.rss(measured.conductor_rss_mib, fleet.nodes)
    return Answer(
        nodes=fleet.nodes, method=measured.method, cpu_ms_per_node=measured.cpu_ms_per_node,
        capacity_per_process=capacity, processes=processes, hosts=hosts, per_host=fleet.per_host,
        busiest_nodes=busiest, busiest_after_host_loss=worst,
        max_over_mean=busiest / (fleet.nodes / processes),
        busiest_cycle_cpu_s=worst * measured.cpu_ms_per_node / 1000,
        conductor_rss_mib=cond, api_worker_rss_mib=measured.rss(measured.api_rss_mib, fleet.nodes),
        host_rss_mib=None if cond is None else cond * fleet.per_host)
