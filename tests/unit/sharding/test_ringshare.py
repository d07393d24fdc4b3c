"""Each ring member's share of the hash space equals where tooz puts node UUIDs."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from tooz import hashring

from ironic_scale.sharding.ringshare import max_over_mean, ring_shares


@pytest.mark.parametrize("exponent, algorithm", [(5, "md5"), (7, "sha256"), (3, "sha1")])
def test_shares_match_tooz_placement(exponent, algorithm):
    names = [f"ctl{i}.example.net:{8089 + i % 3}" for i in range(8)]
    shares = ring_shares(names, exponent, algorithm)
    assert set(shares) == set(names) and sum(shares.values()) == pytest.approx(1.0)
    ring = hashring.HashRing(names, partitions=2 ** exponent, hash_function=algorithm)
    n = 40000
    rng = uuid.UUID(int=12345)
    keys = [str(uuid.uuid5(rng, str(i))).encode() for i in range(n)]
    placed = Counter(next(iter(ring.get_nodes(k))) for k in keys)
    for name in names:  # binomial sd at p~1/8, n=40000: ~0.0017
        assert placed[name] / n == pytest.approx(shares[name], abs=0.008)


def test_a_key_on_a_ring_point_belongs_to_that_points_owner():
    """bisect_right: a hash equal to a point goes to the *next* point; shares follow the same rule."""
    names = ["a", "b", "c"]
    ring = hashring.HashRing(names, partitions=4)
    shares = ring_shares(names, 2, "md5")
    assert min(shares.values()) > 0 and len(ring._partitions) == 12


def test_one_member_owns_everything():
    assert ring_shares(["only"], 5, "md5") == {"only": 1.0}
    assert max_over_mean(["only"], 5, "md5") == (1.0, 1.0)


def test_more_points_balance_better():
    names = [f"ironic-{i}" for i in range(16)]
    assert max_over_mean(names, 10, "md5")[0] < max_over_mean(names, 5, "md5")[0]
