"""How evenly a ring spreads nodes: per conductor, per host and per ring, against random placement.

The report swift-ring-builder and ``osdmaptool --test-map-pgs`` give, for
Ironic: counts, share, max/mean and stddev, next to what placing every node on
a uniformly random conductor would give (the floor no exponent can beat).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field

from ironic_scale.sharding.model import Cluster, RingSettings
from ironic_scale.sharding.ring import Rings

RANDOM_TRIALS = 20  # random placements averaged for the "expected" column; seeded, so repeatable


@dataclass
class RingBalance:
    """One ``group:hardware_type`` ring."""

    key: str
    members: list[str]
    nodes: int
    counts: dict[str, int]  # conductor -> nodes
    mean: float
    max_over_mean: float
    min_over_mean: float
    stddev: float
    random_stddev: float  # sqrt(n p (1-p)) for a uniformly random placement
    random_max_over_mean: float  # median over seeded random placements

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BalanceReport:
    settings: RingSettings
    rings: list[RingBalance]
    per_conductor: dict[str, int]
    per_machine: dict[str, int]
    orphaned: int  # nodes whose key has no live conductor
    owners: dict[str, str | None] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return {"settings": asdict(self.settings), "rings": [r.to_dict() for r in self.rings],
                "per_conductor": self.per_conductor, "per_machine": self.per_machine,
                "orphaned": self.orphaned}


def random_max_over_mean(nodes: int, members: int, trials: int = RANDOM_TRIALS, seed: int = 0) -> float:
    """Median max/mean when each node picks a conductor uniformly at random."""
    if members <= 1 or nodes == 0:
        return 1.0
    rng = random.Random(seed)
    mean = nodes / members
    results = []
    for _ in range(trials):
        counts = Counter(rng.randrange(members) for _ in range(nodes))
        results.append(max(counts.values()) / mean)
    return statistics.median(results)


def ring_balance(key: str, members: list[str], owners: list[str], random_trials: int = RANDOM_TRIALS
                 ) -> RingBalance:
    counts = Counter(owners)
    per = {m: counts.get(m, 0) for m in sorted(members)}
    n, k = len(owners), len(members)
    mean = n / k if k else 0.0
    values = list(per.values())
    p = 1 / k if k else 0.0
    return RingBalance(
        key=key, members=sorted(members), nodes=n, counts=per, mean=mean,
        max_over_mean=(max(values) / mean) if mean else 0.0,
        min_over_mean=(min(values) / mean) if mean else 0.0,
        stddev=statistics.pstdev(values) if values else 0.0,
        random_stddev=math.sqrt(n * p * (1 - p)),
        random_max_over_mean=random_max_over_mean(n, k, random_trials) if random_trials else 0.0)


def balance(cluster: Cluster, settings: RingSettings, random_trials: int = RANDOM_TRIALS) -> BalanceReport:
    rings = Rings(cluster.conductors, settings)
    owners: dict[str, str | None] = {}
    by_key: dict[str, list[str]] = {key: [] for key in rings.members}
    orphaned = 0
    for node in cluster.nodes:
        owner = rings.owner(node)
        owners[node.uuid] = owner
        if owner is None:
            orphaned += 1
        else:
            by_key[rings.key_of(node)].append(owner)
    machine = {c.name: c.machine for c in cluster.conductors}
    per_conductor = Counter(o for o in owners.values() if o is not None)
    per_machine: Counter[str] = Counter()
    for name, count in per_conductor.items():
        per_machine[machine.get(name, name)] += count
    live = sorted(c.name for c in cluster.conductors if c.alive)
    return BalanceReport(
        settings=settings,
        rings=[ring_balance(key, sorted(rings.members[key]), by_key[key], random_trials)
               for key in sorted(by_key)],
        per_conductor={name: per_conductor.get(name, 0) for name in live},
        per_machine=dict(sorted(per_machine.items())), orphaned=orphaned, owners=owners)


def worst_max_over_mean(report: BalanceReport) -> float:
    """The busiest conductor of the most unbalanced ring that has nodes, over its ring's mean."""
    return max((r.max_over_mean for r in report.rings if r.nodes), default=0.0)


@dataclass
class ExponentChoice:
    exponent: int
    max_over_mean: float
    moved_fraction: float  # share of nodes that change owner when going from the current exponent


def recommend_exponent(cluster: Cluster, settings: RingSettings, candidates: range = range(5, 11),
                       tolerance: float = 0.03, current: dict[str, str | None] | None = None,
                       ) -> tuple[int, list[ExponentChoice]]:
    """The smallest exponent within ``tolerance`` of the best max/mean for these names and nodes.

    Bigger exponents cost ring-build time in every API worker and conductor every
    ``hash_ring_reset_interval``, and changing the exponent moves most nodes, so
    the smallest one that is nearly as good wins.
    """
    if current is None:  # ``current``: the owners at ``settings``, when the caller has them already
        rings = Rings(cluster.conductors, settings)
        current = {n.uuid: rings.owner(n) for n in cluster.nodes}
    choices = []
    for exp in candidates:
        s = RingSettings(exp, settings.algorithm, settings.use_groups)
        report = balance(cluster, s, random_trials=0)
        moved = sum(1 for u, o in report.owners.items() if o != current[u])
        choices.append(ExponentChoice(exp, worst_max_over_mean(report),
                                      moved / len(cluster.nodes) if cluster.nodes else 0.0))
    best = min(c.max_over_mean for c in choices)
    pick = next(c.exponent for c in choices if c.max_over_mean <= best + tolerance)
    return pick, choices
