"""Owners of nodes on Ironic's hash ring, built with the same tooz class and arguments.

Ironic (``ironic.common.hash_ring.HashRingManager._load_hash_rings``) builds one
``tooz.hashring.HashRing(hosts, partitions=2**exponent, hash_function=algorithm)``
per ``group:hardware_type`` from the live conductors, and routes a node with
``ring.get_nodes(node.uuid.encode('utf-8')).pop()`` (``rpcapi.get_conductor_for``).
Those two calls need Ironic's config and database; here the same tooz calls take
their input from a ``Cluster`` so that placement can be predicted offline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ironic_scale.sharding.model import Cluster, Conductor, Node, RingSettings


def ring_key(group: str, hardware_type: str, use_groups: bool = True) -> str:
    """The key Ironic files a ring under (``'%s:%s' % (group, hw_type)`` or the bare type)."""
    return f"{group}:{hardware_type}" if use_groups else hardware_type


def hosts_by_key(conductors: Iterable[Conductor], use_groups: bool = True) -> dict[str, set[str]]:
    """What ``Conductor.get_active_hardware_type_dict`` returns: ring key -> live conductor names."""
    d2c: dict[str, set[str]] = defaultdict(set)
    for c in conductors:
        if c.alive:
            for hw in c.hardware_types:
                d2c[ring_key(c.group, hw, use_groups)].add(c.name)
    return dict(d2c)


class Rings:
    """One tooz ring per key, and lookups the way Ironic's RPC API does them."""

    def __init__(self, conductors: Iterable[Conductor], settings: RingSettings):
        from tooz import hashring  # here, not at import: `ironic-scale` must load without Ironic's deps

        self.settings = settings
        self.members = hosts_by_key(conductors, settings.use_groups)
        self._rings = {key: hashring.HashRing(hosts, partitions=settings.partitions,
                                              hash_function=settings.algorithm)
                       for key, hosts in self.members.items()}

    def key_of(self, node: Node) -> str:
        return ring_key(node.conductor_group, node.driver, self.settings.use_groups)

    def owner(self, node: Node) -> str | None:
        """The conductor the API routes ``node`` to, or None when no live conductor serves its key."""
        ring = self._rings.get(self.key_of(node))
        if ring is None:
            return None
        return set(ring.get_nodes(node.uuid.encode("utf-8"))).pop()


def predict(cluster: Cluster, settings: RingSettings) -> dict[str, str | None]:
    """Node uuid -> predicted owner (None: orphaned, no live conductor for its group and driver)."""
    rings = Rings(cluster.conductors, settings)
    return {n.uuid: rings.owner(n) for n in cluster.nodes}
