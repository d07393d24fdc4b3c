"""The share of the hash space each member of one of Ironic's rings owns.

Built with tooz's ``HashRing`` (the class hash_ring.py:78 builds), then read off
its sorted points: a key hashing to ``h`` goes to the first point above ``h``
(``bisect.bisect``, wrapping to the first point), so each point owns the arc
from the previous point up to it. The share is what a member's expected load is
over random node UUIDs, exactly and without sampling; the tests check it against
``get_nodes`` over many UUIDs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tooz import hashring


def ring_shares(names: Iterable[str], exponent: int, algorithm: str) -> dict[str, float]:
    """Fraction of the hash space owned by each name (sums to 1)."""
    ring = hashring.HashRing(set(names), partitions=2 ** exponent, hash_function=algorithm)
    points = ring._partitions  # sorted ring points (tooz/hashring.py add_nodes)
    owner = ring._ring  # point -> member
    space = 1 << (8 * hashlib.new(algorithm, usedforsecurity=False).digest_size)
    owned = dict.fromkeys(ring.nodes, 0)
    for prev, point in zip(points, points[1:], strict=False):
        owned[owner[point]] += point - prev
    owned[owner[points[0]]] += points[0] + space - points[-1]
    return {name: arc / space for name, arc in owned.items()}


def max_over_mean(names: Iterable[str], exponent: int, algorithm: str) -> tuple[float, float]:
    """(busiest, least loaded) member's share relative to the mean share."""
    shares = ring_shares(names, exponent, algorithm)
    n = len(shares)
    return max(shares.values()) * n, min(shares.values()) * n
