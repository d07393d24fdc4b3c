"""Prediction against the live cluster: the API's ``conductor`` field is Ironic's own ring answer.

Every node shown by the API at 1.49+ carries ``conductor``, computed by the API
process's ring. A prediction that differs means the input (names, hardware
types, groups) or the ring settings are not what the cluster runs with; trying
the other exponents and algorithms finds which settings the API really uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace

from ironic_scale.sharding.model import Cluster, RingSettings
from ironic_scale.sharding.ring import Rings, predict

# tooz hashes with hashlib.new(name, ...).hexdigest(): the SHAKE family needs a length and
# fails in every ring build, so it is never a setting a running cluster can have.
CANDIDATE_ALGORITHMS = tuple(sorted(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake")))
CANDIDATE_EXPONENTS = tuple(range(1, 13))


@dataclass
class Validation:
    settings: RingSettings
    nodes: int  # nodes the API reported a conductor (or null) for
    agree: int
    differ: list[dict] = field(default_factory=list)  # uuid, predicted, api
    matching_settings: list[RingSettings] = field(default_factory=list)  # when the prediction differs

    @property
    def exact(self) -> bool:
        return not self.differ

    def to_dict(self, limit: int = 50) -> dict:
        return {"settings": asdict(self.settings), "nodes": self.nodes, "agree": self.agree,
                "differ": len(self.differ), "examples": self.differ[:limit], "exact": self.exact,
                "matching_settings": [asdict(s) for s in self.matching_settings]}


def _diff(cluster: Cluster, settings: RingSettings) -> tuple[int, list[dict]]:
    owners = predict(cluster, settings)
    differ = [{"uuid": n.uuid, "predicted": owners[n.uuid], "api": n.conductor}
              for n in cluster.nodes if owners[n.uuid] != n.conductor]
    return len(cluster.nodes) - len(differ), differ


def _agrees(cluster: Cluster, settings: RingSettings) -> bool:
    """Like ``_diff`` but stops at the first difference (most candidates fail on the first node)."""
    rings = Rings(cluster.conductors, settings)
    return all(rings.owner(n) == n.conductor for n in cluster.nodes)


def validate(cluster: Cluster, settings: RingSettings, search: bool = True) -> Validation:
    """Diff predicted owners against the API's; on a difference, find the settings that agree."""
    agree, differ = _diff(cluster, settings)
    result = Validation(settings, len(cluster.nodes), agree, differ)
    if differ and search:
        for algorithm in CANDIDATE_ALGORITHMS:
            for exponent in CANDIDATE_EXPONENTS:
                candidate = replace(settings, exponent=exponent, algorithm=algorithm)
                if candidate != settings and _agrees(cluster, candidate):
                    result.matching_settings.append(candidate)
    return result
