"""Which nodes a migration takes: by conductor group, resource class, name pattern, list, or all."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironic_scale.fleet import migrate_model as model
from ironic_scale.fleet.errors import FleetError
from ironic_scale.fleet.nodeview import label, view


@dataclass(frozen=True)
class Selection:
    all: bool = False
    conductor_group: str | None = None
    resource_class: str | None = None
    name_pattern: str | None = None
    nodes: tuple[str, ...] = ()  # names or UUIDs

    def empty(self) -> bool:
        return not (self.all or self.conductor_group is not None or self.resource_class
                    or self.name_pattern or self.nodes)


def parse_node_list(value: str) -> tuple[str, ...]:
    """``a,b,c`` or ``@FILE`` (one name or UUID per line, # comments)."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise FleetError(f"--nodes {value}: {e.strerror}") from None
        items = [ln.split("#", 1)[0].strip() for ln in lines]
    else:
        items = [v.strip() for v in value.split(",")]
    items = [i for i in items if i]
    if not items:
        raise FleetError(f"--nodes {value}: no node names or UUIDs")
    return tuple(dict.fromkeys(items))


def matches(node: dict[str, Any], sel: Selection) -> bool:
    if sel.conductor_group is not None and (node.get("conductor_group") or "") != sel.conductor_group:
        return False
    if sel.resource_class and node.get("resource_class") != sel.resource_class:
        return False
    return not (sel.name_pattern and not fnmatch.fnmatchcase(node.get("name") or "", sel.name_pattern))


def select(conn: Any, sel: Selection) -> list[dict[str, Any]]:
    """The selected IPMI nodes (and any listed by name of another driver, to be skipped with a
    reason), ordered by name then UUID so batches are the same on every run."""
    if sel.empty():
        raise FleetError("say which nodes: --all, --conductor-group, --resource-class, "
                         "--name-pattern or --nodes")
    bm = conn.baremetal
    found: dict[str, dict[str, Any]] = {}
    if sel.nodes:
        for ident in sel.nodes:
            node = bm.find_node(ident, ignore_missing=True)
            if node is None:
                raise FleetError(f"node {ident} not found")
            found[node.id] = view(bm.get_node(node.id))
    else:
        query: dict[str, Any] = {}
        if sel.conductor_group is not None:
            query["conductor_group"] = sel.conductor_group
        if sel.resource_class:
            query["resource_class"] = sel.resource_class
        for driver in model.IPMI_DRIVERS:
            for node in bm.nodes(details=True, driver=driver, **query):
                found[node.id] = view(node)
    chosen = [n for n in found.values() if matches(n, sel)]
    return sorted(chosen, key=lambda n: (label(n), n["uuid"]))
