"""The Ironic REST calls of an import (openstacksdk's ``conn.baremetal``), one function per step.

Each step either returns what Ironic now shows of the node or raises ``StepFailed`` with a
one-line reason (Ironic's ``last_error`` when the node has one), so the caller records the
failure and leaves the node where Ironic put it. State changes wait with openstacksdk's own
waiters, which also know Ironic's failure states (``enroll`` with an error after
``manage``, ``* failed`` after the rest).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ironic_scale.fleet.import_plan import Observed
from ironic_scale.fleet.inventory import NodeSpec, Problem

# Where each provisioning verb leads, and the states a node passes through on the way.
VERBS = {"manage": ("manageable", ("verifying",)), "provide": ("available", ("cleaning", "clean wait")),
         "adopt": ("active", ("adopting",))}
LIST_FIELDS = ["uuid", "name", "provision_state", "last_error", "maintenance", "reservation"]


class StepFailed(Exception):
    """A step did not complete; ``reason`` is one line, ``state`` Ironic's provision state if known."""

    def __init__(self, reason: str, state: str | None = None):
        super().__init__(reason)
        self.reason, self.state = reason, state


class NameTaken(Exception):
    """Creating the node found one of that name already there (made since the import started)."""


def _api_errors() -> tuple[type[BaseException], ...]:
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    return sdk.SDKException, ksa.ClientException


def reason(e: BaseException) -> str:
    """One line for an SDK or keystoneauth error: the HTTP status and Ironic's message."""
    from openstack import exceptions as sdk

    if isinstance(e, sdk.HttpException):
        text = f"HTTP {e.status_code}: {e.details or e.message}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


def observed(node: Any) -> Observed:
    return Observed(uuid=node.id, provision_state=node.provision_state or "available",
                    last_error=node.last_error or None, maintenance=bool(node.is_maintenance),
                    reservation=node.reservation or None)


def observe_all(conn: Any) -> dict[str, Observed]:
    """Every named node in Ironic, by name: one paged listing of a few fields."""
    return {n.name: observed(n) for n in conn.baremetal.nodes(fields=LIST_FIELDS) if n.name}


def check_cloud(conn: Any, nodes: list[NodeSpec], seen: dict[str, Observed]) -> list[Problem]:
    """Rows Ironic would refuse or that would take another node's port, found before anything is made.

    Keeps the whole-file-first rule for what only the cloud knows: a hardware type or conductor
    group no live conductor serves (Ironic refuses the node at create time), and a MAC that is
    already a port of a node of another name (the port create would fail half-way through).
    ``seen`` is ``observe_all``'s listing.
    """
    return sorted([*_check_drivers(conn, nodes), *_check_macs(conn, nodes, seen)], key=lambda p: p.line)


def _check_drivers(conn: Any, nodes: list[NodeSpec]) -> list[Problem]:
    # GET /v1/drivers names the live conductors of each hardware type (as Ironic's own hash ring
    # sees them); /v1/conductors their groups. Its "alive" is not used: on SQLite conductors do
    # not heartbeat, so it turns false a minute after start while the ring still maps nodes.
    group_of = {c.hostname: c.conductor_group or "" for c in conn.baremetal.conductors()}
    pairs: set[tuple[str, str]] = set()
    groups: dict[str, set[str]] = defaultdict(set)
    for driver in conn.baremetal.drivers():
        for host in driver.hosts or ():
            if host in group_of:
                pairs.add((group_of[host], driver.name))
                groups[driver.name].add(group_of[host])
    out = []
    for spec in nodes:
        group = spec.conductor_group or ""
        if (group, spec.driver) in pairs:
            continue
        if not groups.get(spec.driver):
            out.append(Problem(spec.line, "driver", f"no live conductor runs hardware type {spec.driver} "
                                                    "(enabled_hardware_types in ironic.conf)"))
        else:
            have = ", ".join(sorted(repr(g) for g in groups[spec.driver]))
            out.append(Problem(spec.line, "conductor_group", f"no live conductor in group {group!r} runs "
                                                             f"{spec.driver} (groups that do: {have})"))
    return out


def _check_macs(conn: Any, nodes: list[NodeSpec], seen: dict[str, Observed]) -> list[Problem]:
    # A MAC on the node of the row's own name is fine: ours from an earlier run, or that node is
    # someone else's and the row is reported as a conflict anyway.
    wanted = {mac: spec for spec in nodes for mac in spec.macs}
    if not wanted:
        return []
    name_of = {obs.uuid: name for name, obs in seen.items()}
    out = []
    for port in conn.baremetal.ports(fields=["address", "node_uuid"]):
        spec = wanted.get(port.address)
        owner = name_of.get(port.node_id)
        if spec is not None and owner != spec.name:
            out.append(Problem(spec.line, "macs", f"{port.address} is already a port of node "
                                                  f"{owner or port.node_id}"))
    return out


def create(conn: Any, spec: NodeSpec, uuid: str, automated_clean: bool | None) -> Observed:
    """Enroll the node with the UUID the journal already holds; ``NameTaken`` on a name clash."""
    from openstack import exceptions as sdk

    attrs: dict[str, Any] = {"id": uuid, "name": spec.name, "driver": spec.driver,
                             "driver_info": spec.driver_info()}
    if spec.properties:
        attrs["properties"] = spec.properties
    if spec.resource_class:
        attrs["resource_class"] = spec.resource_class
    if spec.conductor_group:
        attrs["conductor_group"] = spec.conductor_group
    if automated_clean is not None:
        attrs["is_automated_clean_enabled"] = automated_clean
    try:
        return observed(conn.baremetal.create_node(**attrs))
    except sdk.ConflictException as e:
        raise NameTaken(reason(e)) from None
    except _api_errors() as e:
        raise StepFailed(reason(e), None) from None


def find(conn: Any, name: str) -> Observed | None:
    from openstack import exceptions as sdk

    try:
        return observed(conn.baremetal.get_node(name, fields=LIST_FIELDS))
    except sdk.NotFoundException:
        return None


def ensure_ports(conn: Any, uuid: str, macs: tuple[str, ...], fresh: bool = False) -> int:
    """Create the node's ports Ironic does not have yet; how many were created.

    ``fresh``: the node was created moments ago by this run, so it has none (one request less).
    """
    from openstack import exceptions as sdk

    def ours() -> set[str]:
        return {p.address for p in conn.baremetal.ports(node_id=uuid, fields=["address"])}

    try:
        missing = [m for m in macs if m not in (set() if fresh else ours())]
        for mac in missing:
            try:
                conn.baremetal.create_port(node_id=uuid, address=mac)
            except sdk.ConflictException as e:
                if mac not in ours():  # not a retried request of ours that went through: another node's MAC
                    raise StepFailed(reason(e), "enroll") from None
    except _api_errors() as e:
        raise StepFailed(reason(e), "enroll") from None
    return len(missing)


def set_driver_info(conn: Any, uuid: str, spec: NodeSpec) -> None:
    """Put the inventory's ``ipmi_*`` values on the node again (a retry after fixed credentials)."""
    patch = [{"op": "add", "path": f"/driver_info/{k}", "value": v} for k, v in spec.driver_info().items()]
    try:
        conn.baremetal.patch_node(uuid, patch)
    except _api_errors() as e:
        raise StepFailed(reason(e), "enroll") from None


def move(conn: Any, obs: Observed, verb: str, timeout: float) -> Observed:
    """Ask Ironic for ``verb`` (manage, provide, adopt) and wait until it is done or failed.

    A node still locked (the conductor thread that finished the last step has not let go yet)
    is waited for here first: else the API thread serving our request sleeps in Ironic's
    lock retries, and the standalone API has only 10 of them.
    """
    from openstack import exceptions as sdk

    if obs.reservation:
        from openstack.baremetal.v1.node import Node

        locked = Node.existing(id=obs.uuid, reservation=obs.reservation)
        _waiting(conn, obs.uuid, timeout, lambda: conn.baremetal.wait_for_node_reservation(locked, timeout))
    try:
        return _waiting(conn, obs.uuid, timeout, lambda: conn.baremetal.set_node_provision_state(
            obs.uuid, verb, wait=True, timeout=timeout), refuse=sdk.BadRequestException)
    except sdk.BadRequestException as e:
        # Refused for the node's state: if it is where this verb leads (our request went through,
        # then its connection broke and keystoneauth sent it again), wait for it; else a failure.
        now = _current(conn, obs.uuid)
        target, passing = VERBS[verb]
        if now is not None and now.provision_state == target:
            return now
        if now is not None and now.provision_state in passing:
            return wait(conn, obs.uuid, target, timeout)
        raise StepFailed(reason(e), now.provision_state if now else None) from None


def wait(conn: Any, uuid: str, state: str, timeout: float) -> Observed:
    """Wait for a transition Ironic is already making (a resumed import)."""
    return _waiting(conn, uuid, timeout, lambda: conn.baremetal.wait_for_nodes_provision_state(
        [uuid], state, timeout=timeout)[0])


def _waiting(conn: Any, uuid: str, timeout: float, call: Any, refuse: Any = ()) -> Observed:
    """``call()``'s node; its SDK errors as StepFailed, except ``refuse``, which the caller handles."""
    from openstack import exceptions as sdk

    try:
        return observed(call())
    except refuse:
        raise
    except sdk.ResourceTimeout:
        now = _current(conn, uuid)
        state = now.provision_state if now else None
        raise StepFailed(f"not done after {timeout:.0f} s (Ironic has it in {state}); a re-run picks it up",
                         state) from None
    except _api_errors() as e:
        now = _current(conn, uuid)
        if isinstance(e, sdk.ResourceFailure) and now is not None and now.last_error:
            raise StepFailed(" ".join(now.last_error.split()), now.provision_state) from None
        raise StepFailed(reason(e), now.provision_state if now else None) from None


def _current(conn: Any, uuid: str) -> Observed | None:
    try:
        return observed(conn.baremetal.get_node(uuid, fields=LIST_FIELDS))
    except _api_errors():
        return None
