"""What-if: the nodes a membership or settings change moves, before anyone makes it.

Like swift-ring-builder's dry run and Camunda's ``dryRun``: the plan reports
what would move (all, ACTIVE, mid-operation), the busiest survivor, and how
long routing and ACTIVE-node take-over take at the cluster's own intervals.
Applying it is rolling out configs (``ironic-scale conductors generate``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from ironic_scale.sharding import names
from ironic_scale.sharding.balance import balance, worst_max_over_mean
from ironic_scale.sharding.model import Cluster, Conductor, RingSettings
from ironic_scale.sharding.settings import Timing

ACTIVE = "active"
# Ironic's states.STABLE_STATES: anything else is mid-operation, where a move is a hazard.
STABLE = frozenset(("enroll", "manageable", "available", "active", "error", "rescue", ""))


class PlanError(ValueError):
    """A change that cannot apply to this cluster (unknown conductor, duplicate name...)."""


@dataclass(frozen=True)
class Change:
    op: str  # add, remove, rename, add-host, lose-host, exponent, algorithm
    arg: str

    def __str__(self) -> str:
        return f"{self.op} {self.arg}"


def parse_change(text: str) -> Change:
    """``add=NAME``, ``remove=NAME``, ``rename=OLD,NEW``, ``add-host=MACHINE:N``, ``lose-host=MACHINE``,
    ``exponent=E``, ``algorithm=A``."""
    op, sep, arg = text.partition("=")
    op = op.strip()
    if not sep or not arg or op not in ("add", "remove", "rename", "add-host", "lose-host", "exponent",
                                         "algorithm"):
        raise PlanError(f"bad change {text!r}: expected add=NAME, remove=NAME, rename=OLD,NEW, "
                        "add-host=MACHINE:N, lose-host=MACHINE, exponent=E or algorithm=A")
    return Change(op, arg.strip())


def _profile(conductors: list[Conductor]) -> Conductor:
    """The most common (group, hardware types) among live conductors: what a new one looks like."""
    live = [c for c in conductors if c.alive] or conductors
    if not live:
        raise PlanError("no conductor to copy a group and hardware types from")
    common = Counter((c.group, c.hardware_types) for c in live).most_common(1)[0][0]
    return Conductor(name="profile", group=common[0], hardware_types=common[1])


def apply_changes(cluster: Cluster, settings: RingSettings, changes: list[Change],
                  rpc_transport: str = "json-rpc", first_port: int = names.DEFAULT_JSON_RPC_PORT,
                  ) -> tuple[list[Conductor], RingSettings]:
    conductors = list(cluster.conductors)
    by_name = {c.name: c for c in conductors}
    for ch in changes:
        if ch.op == "add":
            if ch.arg in by_name:
                raise PlanError(f"add: conductor {ch.arg} already exists")
            new = replace(_profile(conductors), name=ch.arg, machine="")
            conductors.append(Conductor(new.name, new.group, new.hardware_types))
        elif ch.op == "remove":
            if ch.arg not in by_name:
                raise PlanError(f"remove: no conductor named {ch.arg}")
            conductors = [c for c in conductors if c.name != ch.arg]
        elif ch.op == "rename":
            old, _, new_name = ch.arg.partition(",")  # names may hold ':' (host:port), never ','
            if old not in by_name or not new_name:
                raise PlanError(f"rename: expected OLD,NEW with an existing OLD, got {ch.arg!r}")
            conductors = [replace(c, name=new_name, machine="") if c.name == old else c for c in conductors]
        elif ch.op == "add-host":
            machine, _, count = ch.arg.rpartition(":")
            if not machine or not count.isdigit() or int(count) < 1:
                raise PlanError(f"add-host: expected MACHINE:N, got {ch.arg!r}")
            prof = _profile(conductors)
            for inst in names.host_instances(machine, int(count), rpc_transport, first_port):
                if inst.name in by_name:
                    raise PlanError(f"add-host: conductor {inst.name} already exists")
                conductors.append(Conductor(inst.name, prof.group, prof.hardware_types, machine=machine))
        elif ch.op == "lose-host":
            if not any(c.machine == ch.arg for c in conductors):
                raise PlanError(f"lose-host: no conductor runs on {ch.arg}")
            conductors = [c for c in conductors if c.machine != ch.arg]
        elif ch.op == "exponent":
            if not ch.arg.isdigit() or not 1 <= int(ch.arg) <= 16:
                raise PlanError(f"exponent: expected 1..16, got {ch.arg!r}")
            settings = replace(settings, exponent=int(ch.arg))
        elif ch.op == "algorithm":
            settings = replace(settings, algorithm=ch.arg)
        by_name = {c.name: c for c in conductors}
    return conductors, settings


@dataclass
class Plan:
    changes: list[str]
    before: dict  # settings and members
    after: dict
    nodes: int
    moved: int
    moved_active: int
    moved_transitional: list[str]  # uuids of nodes mid-operation that would change owner
    orphaned_before: int
    orphaned_after: int
    busiest_after: str | None
    busiest_after_nodes: int
    max_over_mean_before: float
    max_over_mean_after: float
    moves: dict[str, int]  # "old -> new" -> nodes
    routing_seconds: int  # until every process routes by the new ring
    takeover_seconds: int  # until every moved ACTIVE node has been taken over
    takeover_backlog: dict[str, int] = field(default_factory=dict)  # new owner -> ACTIVE nodes to take over

    def to_dict(self) -> dict:
        return asdict(self)


def make_plan(cluster: Cluster, settings: RingSettings, changes: list[Change], timing: Timing,
              rpc_transport: str = "json-rpc", first_port: int = names.DEFAULT_JSON_RPC_PORT) -> Plan:
    after_conductors, after_settings = apply_changes(cluster, settings, changes, rpc_transport, first_port)
    before = balance(cluster, settings, random_trials=0)
    after = balance(Cluster(after_conductors, cluster.nodes), after_settings, random_trials=0)
    moves: Counter[str] = Counter()
    backlog: Counter[str] = Counter()
    moved = moved_active = 0
    transitional = []
    for node in cluster.nodes:
        old, new = before.owners[node.uuid], after.owners[node.uuid]
        if old == new:
            continue
        moved += 1
        moves[f"{old} -> {new}"] += 1
        if node.provision_state == ACTIVE and not node.maintenance and new is not None:
            moved_active += 1
            backlog[new] += 1
        if node.provision_state not in STABLE:
            transitional.append(node.uuid)
    lost = {c.name for c in cluster.conductors} - {c.name for c in after_conductors}
    crash = any(ch.op == "lose-host" for ch in changes)
    # A crashed conductor leaves the rings only once its heartbeat is stale; any other change
    # (graceful stop, start, settings rolled out) within one ring cache lifetime.
    routing = timing.routing_after_crash() if crash and lost else timing.routing_after_stop()
    busiest = max(after.per_conductor.items(), key=lambda kv: kv[1], default=(None, 0))

    def members(conductors: list[Conductor], s: RingSettings) -> dict:
        return {"settings": asdict(s), "conductors": sorted(c.name for c in conductors if c.alive)}

    return Plan(
        changes=[str(c) for c in changes], before=members(cluster.conductors, settings),
        after=members(after_conductors, after_settings), nodes=len(cluster.nodes), moved=moved,
        moved_active=moved_active, moved_transitional=transitional, orphaned_before=before.orphaned,
        orphaned_after=after.orphaned, busiest_after=busiest[0], busiest_after_nodes=busiest[1],
        max_over_mean_before=worst_max_over_mean(before), max_over_mean_after=worst_max_over_mean(after),
        moves=dict(moves.most_common()), routing_seconds=routing,
        takeover_seconds=max((timing.takeover_seconds(n) for n in backlog.values()), default=0),
        takeover_backlog=dict(backlog.most_common()))
