"""Start a simulated fleet in a test's own address range, trying another base if one is in use."""

from __future__ import annotations

import random

from ironic_scale.sim.launcher import FleetFailed, RunningFleet


def start_in_range(fleet_factory, count: int, prefix: str, third_octets: tuple[int, int] = (1, 199)
                   ) -> RunningFleet:
    """``fleet_factory(count)`` at ``{prefix}.X.1`` for a random X; five tries."""
    for attempt in range(5):
        try:
            return fleet_factory(count, "--address", f"{prefix}.{random.randint(*third_octets)}.1")
        except FleetFailed as e:
            if "in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")
