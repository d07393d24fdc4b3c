"""What placement depends on: conductors, nodes and the two ring settings.

Every source (database, REST API, files) produces these, and everything else
(prediction, balance, plans, validation) reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ironic_scale.sharding.names import machine_of

# Ironic's defaults ([DEFAULT]hash_partition_exponent, hash_ring_algorithm).
DEFAULT_EXPONENT = 5
DEFAULT_ALGORITHM = "md5"


@dataclass(frozen=True)
class RingSettings:
    """The settings every API and conductor must share; no API exposes them."""

    exponent: int = DEFAULT_EXPONENT
    algorithm: str = DEFAULT_ALGORITHM
    use_groups: bool = True  # False only when pin_release_version caps RPC below 1.47

    @property
    def partitions(self) -> int:
        return 2 ** self.exponent


@dataclass(frozen=True)
class Conductor:
    """A registered conductor: the ring member."""

    name: str  # conductors.hostname, exactly as registered
    group: str = ""  # conductor_group, lower-cased by Ironic
    hardware_types: frozenset[str] = field(default_factory=frozenset)
    alive: bool = True
    machine: str = ""  # the host it runs on; defaults to the name without ``:port``

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", (self.group or "").lower())
        object.__setattr__(self, "hardware_types", frozenset(self.hardware_types))
        if not self.machine:
            object.__setattr__(self, "machine", machine_of(self.name))


@dataclass(frozen=True)
class Node:
    """The columns of a node that placement and move costs depend on."""

    uuid: str
    driver: str
    conductor_group: str = ""
    provision_state: str = ""
    maintenance: bool = False
    reservation: str | None = None
    conductor: str | None = None  # the API's own answer (API >= 1.49), when the source has it
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "conductor_group", (self.conductor_group or "").lower())


@dataclass
class Cluster:
    """A snapshot: conductors and nodes from one source."""

    conductors: list[Conductor]
    nodes: list[Node]
    source: str = ""
