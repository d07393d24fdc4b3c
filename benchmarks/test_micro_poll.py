"""One power-status poll, four ways (run: ``pytest benchmarks``; CI adds ``--quick``).

(a) ipmitool forked the way Ironic 39 forks it, (b) FreeIPMI ipmipower spawned
per node, (c) native cold: login + poll + logout, (d) native warm: one Get
Chassis Status on a persistent session, over IPv4 and over IPv6.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from benchmarks.conftest import cycle
from ironic_scale.bench.sweep import ipmitool_command
from ironic_scale.ipmi import commands
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine


def creds(ep) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


@pytest.fixture(scope="module")
def engine():
    e = Engine()
    yield e
    e.shutdown()


@pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool not installed")
def test_ipmitool_as_ironic_forks_it(measure, fleet):
    with tempfile.TemporaryDirectory() as tmp:
        pw = os.path.join(tmp, "pw")
        with open(pw, "w") as f:
            f.write(fleet.endpoints[0].password)
        eps = cycle(fleet.endpoints)

        def poll() -> None:
            res = subprocess.run(ipmitool_command(next(eps), pw), capture_output=True, text=True)
            assert res.stdout.strip() == "Chassis Power is off", res.stderr

        measure("ipmitool", poll, rounds=40)


@pytest.mark.skipif(shutil.which("ipmipower") is None, reason="ipmipower not installed")
def test_ipmipower_spawned_per_node(measure, fleet):
    eps = cycle(fleet.endpoints)

    def poll() -> None:
        ep = next(eps)
        res = subprocess.run(["ipmipower", "-D", "LAN_2_0", "-h", ep.address, "-u", ep.username,
                              "-p", ep.password, "--stat"], capture_output=True, text=True)
        assert res.stdout.strip() == f"{ep.address}: off", res.stderr

    measure("ipmipower", poll, rounds=60)


def test_native_cold_login_poll_logout(measure, fleet, engine):
    eps = cycle(fleet.endpoints)

    def poll() -> None:
        c = creds(next(eps))
        assert commands.get_power(engine, c, 10) is False
        engine.close(c)  # logout goes out before the next request (one queue, in order)

    measure("native-cold", poll, rounds=200)


def _warm_polls(measure, name: str, endpoints, engine) -> None:
    all_creds = [creds(ep) for ep in endpoints]
    for c in all_creds:
        commands.get_power(engine, c, 10)  # log in before the clock starts
    it = cycle(all_creds)

    def poll() -> None:
        assert commands.get_power(engine, next(it), 10) is False

    measure(name, poll, rounds=2000)


def test_native_warm_poll(measure, fleet, engine):
    _warm_polls(measure, "native-warm", fleet.endpoints, engine)


def test_native_warm_poll_ipv6(measure, fleet6, engine):
    """The same over IPv6 (BMCs on ::1): what an IPv6 address costs per poll."""
    _warm_polls(measure, "native-warm-ipv6", fleet6.endpoints, engine)
