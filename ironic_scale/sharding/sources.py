"""Load a ``Cluster`` from files, from the REST API, or from Ironic's database.

Three ways an operator can get at the data, in the order of how little access
they need: an export (CSV, JSON or JSON lines, with the API's field names or
the ``baremetal ... -f json`` column titles), the REST API through openstacksdk
(clouds.yaml / ``OS_*`` or a noauth endpoint), or the database through
Ironic's own dbapi with the conductor's config file.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ironic_scale.sharding.model import Cluster, Conductor, Node

# Column titles of `baremetal node list --long -f json` / `conductor list` -> API field names.
_ALIASES = {"provisioning_state": "provision_state", "hostname": "name", "drivers": "hardware_types",
            "id": "uuid"}
_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off", "", "none", "null"}


class SourceError(ValueError):
    """Input that cannot be read as conductors or nodes; says which file, line and field."""


def _norm(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        k = str(key).strip().lower().replace(" ", "_").replace("-", "_")
        out[_ALIASES.get(k, k)] = value
    return out


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SourceError(f"{where}: not a boolean: {value!r}")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).replace(";", ",").split(",") if v.strip()]


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) for each record of a CSV, JSON list, JSON lines, or {"conductors", "nodes"} file."""
    try:
        text = path.read_text()
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror or e}") from None
    stripped = text.lstrip()
    if path.suffix.lower() == ".csv" or (stripped and stripped[0] not in "[{"):
        for lineno, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            yield f"{path}:{lineno}", row
        return
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON lines, read below
    if isinstance(whole, list):
        for i, row in enumerate(whole):
            yield f"{path}[{i}]", row
        return
    if isinstance(whole, dict) and ("nodes" in whole or "conductors" in whole):
        for section in ("conductors", "nodes"):
            for i, row in enumerate(whole.get(section) or []):
                yield f"{path}:{section}[{i}]", {**row, "_section": section}
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path}:{lineno}", json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(f"{path}:{lineno}: not JSON: {e.msg}") from None


def conductor_from_row(where: str, row: dict[str, Any], hardware_types: Iterable[str] = ()) -> Conductor:
    r = _norm(row)
    name = str(r.get("name") or "").strip()
    if not name:
        raise SourceError(f"{where}: conductor without hostname")
    hw = _list(r.get("hardware_types")) or list(hardware_types)
    if not hw:
        raise SourceError(f"{where}: conductor {name} has no hardware types "
                          "(field 'hardware_types' or 'drivers')")
    alive = _bool(r["alive"], f"{where}: alive") if "alive" in r else True
    return Conductor(name=name, group=str(r.get("conductor_group") or ""), hardware_types=frozenset(hw),
                     alive=alive, machine=str(r.get("machine") or ""))


def node_from_row(where: str, row: dict[str, Any]) -> Node:
    r = _norm(row)
    uuid = str(r.get("uuid") or "").strip().lower()
    if len(uuid) != 36 or uuid.count("-") != 4:
        raise SourceError(f"{where}: field uuid: not a node UUID: {r.get('uuid')!r}")
    driver = str(r.get("driver") or "").strip()
    if not driver:
        raise SourceError(f"{where}: node {uuid}: field driver is empty")
    return Node(uuid=uuid, driver=driver, conductor_group=str(r.get("conductor_group") or ""),
                provision_state=str(r.get("provision_state") or ""),
                maintenance=_bool(r.get("maintenance", False), f"{where}: maintenance"),
                reservation=r.get("reservation") or None, conductor=r.get("conductor") or None,
                name=r.get("name") or None)


def from_files(nodes: Path | None, conductors: Path | None = None,
               members: Iterable[Conductor] = ()) -> Cluster:
    """Nodes and conductors from export files; ``members`` adds conductors given on the command line.

    One JSON document ``{"conductors": [...], "nodes": [...]}`` may carry both.
    """
    cs: list[Conductor] = list(members)
    ns: list[Node] = []
    for path, default in ((conductors, "conductors"), (nodes, "nodes")):
        if path is None:
            continue
        for where, row in read_rows(path):
            if not isinstance(row, dict):
                raise SourceError(f"{where}: expected an object, got {type(row).__name__}")
            section = row.pop("_section", default)
            if section == "conductors":
                cs.append(conductor_from_row(where, row))
            else:
                ns.append(node_from_row(where, row))
    _check_unique(cs, ns)
    return Cluster(cs, ns, source="files")


def _check_unique(conductors: list[Conductor], nodes: list[Node]) -> None:
    seen: set[str] = set()
    for c in conductors:
        if c.name in seen:
            raise SourceError(f"conductor {c.name} is listed twice")
        seen.add(c.name)
    uuids: set[str] = set()
    for n in nodes:
        if n.uuid in uuids:
            raise SourceError(f"node {n.uuid} is listed twice")
        uuids.add(n.uuid)


def from_api(conn: Any) -> Cluster:
    """Conductors, their hardware types and the nodes (with the API's own ``conductor``) over REST.

    ``conn`` is an ``openstack.connection.Connection``. Hardware types per conductor
    come from ``GET /v1/drivers`` (``hosts``), which Ironic computes from the same
    table its rings use; the conductor list's ``drivers`` column can lag behind it.
    """
    hw_by_host: dict[str, set[str]] = defaultdict(set)
    for driver in conn.baremetal.drivers(details=False, type="dynamic"):
        for host in driver.hosts or ():
            hw_by_host[host].add(driver.name)
    cs = [Conductor(name=c.hostname, group=c.conductor_group or "", alive=bool(c.alive),
                    hardware_types=frozenset(hw_by_host.get(c.hostname, ())))
          for c in conn.baremetal.conductors(details=True)]
    ns = [Node(uuid=n.id, driver=n.driver, conductor_group=n.conductor_group or "",
               provision_state=n.provision_state or "", maintenance=bool(n.is_maintenance),
               reservation=n.reservation, conductor=n.conductor, name=n.name)
          for n in conn.baremetal.nodes(details=True)]
    return Cluster(cs, ns, source="api")


def connect(cloud: str | None = None, endpoint: str | None = None, **options: Any) -> Any:
    """An openstacksdk connection: ``endpoint`` means noauth (standalone Ironic), else clouds.yaml/OS_*.

    ``options`` are cloud settings, e.g. ``connect_retries``."""
    import openstack

    if endpoint:
        return openstack.connect(auth_type="none", baremetal_endpoint_override=endpoint,
                                 baremetal_api_version="latest", **options)
    return openstack.connect(cloud=cloud, **options) if cloud else openstack.connect(**options)


def from_database() -> Cluster:
    """Conductors and nodes through Ironic's dbapi; Ironic's CONF must be loaded first
    (``settings.load_config`` with the conductor's own config files).

    The live set is Ironic's own ``get_active_hardware_type_dict`` (online, heartbeat
    within ``heartbeat_timeout``), so liveness is judged exactly as the rings judge it.
    """
    from ironic.db import api as dbapi

    return cluster_from_dbapi(dbapi.get_instance())


def cluster_from_dbapi(db: Any) -> Cluster:
    """A ``Cluster`` from an Ironic dbapi (the live set as the rings see it)."""
    d2c = db.get_active_hardware_type_dict(use_groups=True)
    hw: dict[str, set[str]] = defaultdict(set)
    for key, hosts in d2c.items():
        _group, _, hw_type = key.partition(":")
        for host in hosts:
            hw[host].add(hw_type)
    alive = {h for hosts in d2c.values() for h in hosts}
    all_rows: dict[str, Any] = {c.hostname: c for c in db.get_conductor_list()}
    cs = [Conductor(name=name, group=row.conductor_group or "", alive=name in alive,
                    hardware_types=frozenset(hw.get(name, ())) or frozenset(row.drivers or ()))
          for name, row in sorted(all_rows.items())]
    columns = ["uuid", "driver", "conductor_group", "provision_state", "maintenance", "reservation", "name"]
    ns = [Node(**dict(zip(columns, row, strict=True))) for row in db.get_nodeinfo_list(columns=columns)]
    return Cluster(cs, ns, source="database")
