"""Start a simulated fleet in a test's own address range, trying another base if one is in use."""

from __future__ import annotations

import random

from ironic_scale.sim.launcher import FleetFailed, RunningFleet, start_fleet


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


# IPv6 has one loopback address: simulated BMCs on ::1 differ by port. Tests on this
# machine share ::1 with other test runs, so each run takes a random block of these ports.
IPV6_PORTS = (30000, 30999)


def start_on_ipv6_loopback(count: int, *args: str, start=None) -> RunningFleet:
    """``count`` BMCs on ::1, consecutive ports from a random base in IPV6_PORTS; five tries.

    ``start``: a test's fleet_factory (which stops the fleet afterwards); None: start_fleet.
    """
    start = start or (lambda n, *a: start_fleet(n, a))
    low, high = IPV6_PORTS
    for attempt in range(5):
        base = random.randint(low, high - count + 1)
        try:
            return start(count, "--address", "::1", "--per-port", "--port", str(base), *args)
        except FleetFailed as e:
            if "in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")
