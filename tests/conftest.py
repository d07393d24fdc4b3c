"""Fixtures shared by the functional tests: simulated fleets and real IPMI clients."""

from __future__ import annotations

import random

import pytest

from ironic_scale.ipmi.engine import Engine, EngineConfig
from ironic_scale.sim.launcher import FleetFailed, RunningFleet, start_fleet

# Patch-series fixtures (made series, copies of the installed Ironic) for unit and functional tests.
pytest_plugins = ["tests.patch_fixtures"]


def _fresh_base() -> str:
    # Each fleet gets its own 127.X.0.0/16 so fleets of parallel test runs,
    # helpers and benchmarks on this machine never collide.
    return f"127.{random.randint(2, 99)}.{random.randint(0, 250)}.1"


@pytest.fixture
def fleet_factory():
    """Start fleets with ``fleet_factory(count, *args)``; all are stopped afterwards."""
    fleets: list[RunningFleet] = []

    def make(count: int, *args: str) -> RunningFleet:
        fleet = _start(count, args)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop()


def _start(count: int, args: tuple[str, ...]) -> RunningFleet:
    """Start a fleet; on a random base, try another if something else holds it."""
    if "--address" in args:
        return start_fleet(count, args)
    for attempt in range(5):
        try:
            return start_fleet(count, ("--address", _fresh_base(), *args))
        except FleetFailed as e:
            if "in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def fleet(request) -> RunningFleet:
    """A small fleet shared by one test module (24 BMCs, power off)."""
    f = _start(24, ())
    request.addfinalizer(f.stop)
    return f


@pytest.fixture
def engine_factory():
    """Native IPMI engines made with ``engine_factory(**EngineConfig fields)``; all shut down after."""
    engines: list[Engine] = []

    def make(**config) -> Engine:
        config.setdefault("retry_interval", 0.2)
        engine = Engine(EngineConfig(**config))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()
