"""Checks on the hash ring settings: equal everywhere, usable, balanced, refreshed in order."""

from __future__ import annotations

from collections import Counter, defaultdict

from oslo_upgradecheck.upgradecheck import Result
from tooz import hashring

from ironic_scale.sharding.check_model import Fleet, every, fail, labels, ok, warn
from ironic_scale.sharding.confload import Service
from ironic_scale.sharding.ringshare import max_over_mean

RECOMMENDED_EXPONENT = 7
BALANCE_MIN_CONDUCTORS = 4


def _by_value(services: list[Service], get) -> dict[object, list[Service]]:
    out: dict[object, list[Service]] = defaultdict(list)
    for s in services:
        out[get(s)].append(s)
    return out


def ring_settings_match(fleet: Fleet) -> list[Result]:
    """FAIL when hash_partition_exponent or hash_ring_algorithm differs between any two services.

    The API routes each RPC by its own ring (rpcapi.py:247-286) and every
    conductor filters its periodics by its own (base_manager.py:596),
    so a difference misroutes calls and causes repeated take-overs (conf/default.py:209-236:
    "all ironic services in a cluster MUST use the same algorithm").
    """
    services = fleet.services
    out = []
    for option in ("hash_partition_exponent", "hash_ring_algorithm"):
        groups = _by_value(services, lambda s, o=option: getattr(s.conf, o))
        if len(groups) > 1:
            parts = "; ".join(f"{value} in {labels(members)}" for value, members in groups.items())
            out.append(fail(f"[DEFAULT]{option} differs: {parts}; all APIs and conductors must use one "
                            "value, changed in all of them at once"))
    if out:
        return out
    first = services[0].conf
    note = "" if fleet.apis else " (no --api given: the API's ring was not compared)"
    return ok(f"hash_partition_exponent {first.hash_partition_exponent} and hash_ring_algorithm "
              f"{first.hash_ring_algorithm} in {every(len(services), 'service')}{note}")


def _ring_error(algorithm: str) -> str | None:
    try:
        ring = hashring.HashRing(["probe-a", "probe-b"], partitions=2, hash_function=algorithm)
        ring.get_nodes(b"00000000-0000-0000-0000-000000000000")
    except Exception as e:  # noqa: BLE001 - whatever tooz raises is the finding
        return f"{type(e).__name__}: {e}"
    return None


def ring_algorithm_usable(fleet: Fleet) -> list[Result]:
    """FAIL when tooz cannot build and query a ring with the configured algorithm.

    The option accepts hashlib.algorithms_guaranteed (conf/default.py:229-236), which
    includes shake_128/shake_256, whose hexdigest() needs a length: every ring build in
    hash_ring.py:78 raises TypeError, so the API answers 5xx and conductors own nothing.
    """
    out = []
    for algorithm, members in _by_value(fleet.services, lambda s: s.conf.hash_ring_algorithm).items():
        error = _ring_error(algorithm)
        if error:
            out.append(fail(f"hash_ring_algorithm {algorithm} in {labels(members)}: tooz cannot build "
                            f"a ring with it ({error}); use md5 or sha256"))
    return out or ok("tooz builds and queries a ring with every configured hash_ring_algorithm")


def conductor_rings(conductors: list[Service]) -> dict[str, list[Service]]:
    """Ring key (``group:hw_type``) -> the conductors on it, as get_active_hardware_type_dict groups them."""
    rings: dict[str, list[Service]] = defaultdict(list)
    for c in conductors:
        for key in c.ring_keys:
            rings[key].append(c)
    return dict(rings)


def ring_balance(fleet: Fleet) -> list[Result]:
    """WARN when exponent < 7 on a ring of >= 4 conductors, with the ring's actual max/mean.

    Each conductor gets 2**exponent points (hash_ring.py:78-80); with 32 points the busiest
    of 16 conductors carries ~1.3-1.6x the mean (research/sharding.md section 5). The
    figure here is computed for these names: each member's share of the hash space.
    """
    rings: dict[tuple, list[str]] = defaultdict(list)  # same members and settings: same balance
    for key, members in sorted(conductor_rings(fleet.conductors).items()):
        names = tuple(sorted({c.name for c in members}))
        exponent = Counter(c.conf.hash_partition_exponent for c in members).most_common(1)[0][0]
        algorithm = Counter(c.conf.hash_ring_algorithm for c in members).most_common(1)[0][0]
        if exponent >= RECOMMENDED_EXPONENT or len(names) < BALANCE_MIN_CONDUCTORS or _ring_error(algorithm):
            continue
        rings[(names, exponent, algorithm)].append(key)
    out = []
    for (names, exponent, algorithm), keys in rings.items():
        busiest, least = max_over_mean(names, exponent, algorithm)
        better, _ = max_over_mean(names, RECOMMENDED_EXPONENT, algorithm)
        out.append(warn(
            f"{'ring' if len(keys) == 1 else 'rings'} {', '.join(map(repr, keys))}: {len(names)} conductors "
            f"at hash_partition_exponent {exponent} "
            f"({2 ** exponent} points each): the busiest owns {busiest:.2f}x the mean share of nodes, "
            f"the least {least:.2f}x; exponent {RECOMMENDED_EXPONENT} would give {better:.2f}x. Raising it "
            "moves most nodes: change every API and conductor at once, as a planned migration"))
    return out or ok(f"no ring of {BALANCE_MIN_CONDUCTORS}+ conductors has hash_partition_exponent "
                     f"below {RECOMMENDED_EXPONENT}")


def ring_reset_interval(fleet: Fleet) -> list[Result]:
    """WARN when a conductor's hash_ring_reset_interval is shorter than an API's.

    A stopping conductor keeps serving RPC for its own interval only (rpc_service.py:74-105),
    while an API keeps routing to it until its own cached ring expires (hash_ring.py:41-66).
    """
    if not fleet.apis:
        return ok("no --api given: nothing to compare the conductors' hash_ring_reset_interval with")
    api_max = max(a.conf.hash_ring_reset_interval for a in fleet.apis)
    slowest = [a for a in fleet.apis if a.conf.hash_ring_reset_interval == api_max]
    short = [c for c in fleet.conductors if c.conf.hash_ring_reset_interval < api_max]
    if short:
        values = ", ".join(f"{c.label} {c.conf.hash_ring_reset_interval} s" for c in short)
        return [warn(f"hash_ring_reset_interval of {values} is shorter than {api_max} s in "
                     f"{labels(slowest)}: a stopping conductor stops serving RPC before the API's ring "
                     "forgets it")]
    return ok(f"every conductor's hash_ring_reset_interval >= the APIs' ({api_max} s)")
