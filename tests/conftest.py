"""Fixtures shared by the functional tests: simulated fleets and real IPMI clients."""

from __future__ import annotations

import random

import pytest

from ironic_scale.sim.launcher import RunningFleet, start_fleet


def _fresh_base() -> str:
    # Each fleet gets its own 127.X.0.0/16 so fleets of parallel test runs,
    # helpers and benchmarks on this machine never collide.
    return f"127.{random.randint(2, 99)}.{random.randint(0, 250)}.1"


@pytest.fixture
def fleet_factory():
    """Start fleets with ``fleet_factory(count, *args)``; all are stopped afterwards."""
    fleets: list[RunningFleet] = []

    def make(count: int, *args: str) -> RunningFleet:
        if "--address" not in args:
            args = ("--address", _fresh_base(), *args)
        fleet = start_fleet(count, args)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop()


@pytest.fixture(scope="module")
def fleet(request) -> RunningFleet:
    """A small fleet shared by one test module (24 BMCs, power off)."""
    f = start_fleet(24, ("--address", _fresh_base()))
    request.addfinalizer(f.stop)
    return f
