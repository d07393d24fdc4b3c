"""IPv6 BMC addresses: the engine, the simulator and real ipmitool on ::1 (issue 13).

BMCs on ::1 differ by port (tests/fleets.py: a random block of 30000-30999). A host
name that resolves to ::1 needs a hosts entry this machine does not have (its
/etc/hosts maps nothing to ::1, and a test must not edit it): those tests run a
child process under nss_wrapper (Debian libnss-wrapper, from deploy/install-tools.sh),
the Samba project's test library that gives a process its own hosts file, so the
real getaddrinfo resolves the name; nothing in our code is replaced.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ironic_scale.ipmi import commands, errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.resolver import Resolver
from tests.fleets import start_in_range, start_on_ipv6_loopback
from tests.ipmi_clients import ipmitool

NSS_WRAPPER = Path("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so")
NAME = "bmc6.ironic-scale.test"  # resolves to ::1 in the child's hosts file only


def creds_of(ep, address: str | None = None, **kw) -> BmcCredentials:
    return BmcCredentials(address or ep.address, ep.port, ep.username, ep.password, **kw)


@pytest.fixture
def fleet6(fleet_factory):
    return start_on_ipv6_loopback(3, start=fleet_factory)


def test_bmcs_on_ipv6_loopback_by_port(fleet6, engine_factory):
    engine = engine_factory()
    for ep in fleet6.endpoints:
        c = creds_of(ep)
        assert commands.get_power(engine, c, 5) is False
        commands.chassis_control(engine, c, "on", 5)
        assert fleet6.control.state(ep.key)["power"] == "on"
        assert commands.get_power(engine, c, 5) is True
    # Each BMC saw exactly one login from ::1 (sessions are routed by peer and port).
    seen = fleet6.control.requesters()["requesters"]
    assert {ep.key for ep in fleet6.endpoints} == set(seen)
    for ep in fleet6.endpoints:
        assert {"::1": 1} == {src: v["logins"] for src, v in seen[ep.key]["sources"].items()}
    assert engine.stats()["logins"] == 3


def test_ipv6_calls_and_sweeps_take_the_fast_paths(fleet6, engine_factory):
    # A numeric IPv6 address needs no lookup: a blocking call starts in the caller's
    # thread and a sweep needs no resolver thread, as for IPv4.
    engine = engine_factory()
    creds = [creds_of(ep) for ep in fleet6.endpoints]
    assert engine.submit_many(creds, 0x00, 0x01, timeout=5).result(10)[0][0] & 1 == 0
    for _ in range(5):
        assert commands.get_power(engine, creds[0], 5) is False
    assert engine.stats().get("direct_starts", 0) > 0, "IPv6 calls all went through the queue"


@pytest.mark.parametrize("spelling", ["0:0::1", "0000:0000:0000:0000:0000:0000:0000:0001"])
def test_any_ipv6_spelling_matches_the_replies(fleet6, engine_factory, spelling):
    # The kernel reports replies from "::1": a session keyed by another spelling must
    # still get them (else every call would time out).
    ep, engine = fleet6.endpoints[0], engine_factory()
    fleet6.control.power([ep.key], "on")
    assert commands.get_power(engine, creds_of(ep, spelling), 5) is True
    assert engine.stats().get("unrouted", 0) == 0


def test_ipv4_and_ipv6_bmcs_share_one_engine(fleet_factory, fleet6, engine_factory):
    fleet4 = start_in_range(fleet_factory, 2, "127.231")
    engine = engine_factory(sockets=2)
    everyone = [(fleet4, ep) for ep in fleet4.endpoints] + [(fleet6, ep) for ep in fleet6.endpoints]
    for _ in range(3):
        futures = [engine.submit(creds_of(ep), 0x00, 0x01) for _, ep in everyone]
        assert all(f.result(10)[0] & 1 == 0 for f in futures)
    stats = engine.stats()
    assert (stats["sessions"], stats["logins"]) == (5, 5)


def test_ipv6_source_address_is_used_for_ipv6_bmcs(fleet_factory, fleet6, engine_factory):
    fleet4 = start_in_range(fleet_factory, 1, "127.232")
    engine = engine_factory(source_address="::1")
    (ep4,), ep6 = fleet4.endpoints, fleet6.endpoints[0]
    assert commands.get_power(engine, creds_of(ep6), 5) is False
    assert commands.get_power(engine, creds_of(ep4), 5) is False  # the kernel picks for IPv4
    assert set(fleet6.control.requesters([ep6.key])["requesters"][ep6.key]["sources"]) == {"::1"}
    assert set(fleet4.control.requesters([ep4.key])["requesters"][ep4.key]["sources"]) == {"127.0.0.1"}


def test_an_unreachable_ipv6_bmc_fails_alone(fleet6, engine_factory):
    engine = engine_factory()
    ep = fleet6.endpoints[0]
    fleet6.control.set([ep.key], dead=True)
    dead = engine.submit(creds_of(ep), 0x00, 0x01, timeout=1.0)
    alive = [engine.submit(creds_of(e), 0x00, 0x01, timeout=5.0) for e in fleet6.endpoints[1:]]
    assert all(f.result(10) for f in alive)
    with pytest.raises(errors.BMCTimeout, match=r"no answer from the BMC at ::1:"):
        dead.result(10)


def test_bad_ipv6_literal_is_a_clear_error(engine_factory):
    engine = engine_factory()
    future = engine.submit(BmcCredentials("fe80::1%no-such-interface", 30000, "a", "b"), 0, 1)
    with pytest.raises(errors.IPMIError, match="is not a valid IPv6 address"):
        future.result(5)


def test_ipmitool_reaches_the_same_bmc_on_ipv6(fleet6, engine_factory):
    ep, engine = fleet6.endpoints[1], engine_factory()
    c = creds_of(ep)
    commands.chassis_control(engine, c, "on", 5)
    result = ipmitool(ep, "power", "status")
    assert (result.returncode, result.stdout.strip()) == (0, "Chassis Power is on"), result.stderr
    assert ipmitool(ep, "power", "off").returncode == 0
    assert commands.get_power(engine, c, 5) is False
    assert fleet6.control.state(ep.key)["power_log"][-1][1] == "off"


def test_numeric_ipv6_needs_no_lookup():
    def lookup(host, port):
        raise AssertionError("looked up a numeric address")

    assert Resolver(lookup=lookup).resolve("0::1", 30000, 1.0) == ("::1", 30000, 0, 0)


# -- a host name that resolves to ::1 ---------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    from ironic_scale.ipmi import commands, errors
    from ironic_scale.ipmi.credentials import BmcCredentials
    from ironic_scale.ipmi.engine import Engine, EngineConfig
    name, port, user, password = sys.argv[1:]
    engine = Engine(EngineConfig(retry_interval=0.2))
    creds = BmcCredentials(name, int(port), user, password)
    try:
        peer = engine._resolver.resolve(name, int(port), 5)
        try:
            power = commands.get_power(engine, creds, 1)
        except errors.BMCTimeout:
            power = None
        print(json.dumps({"power": power, "peer": peer}))
    finally:
        engine.shutdown()
""")


def _with_hosts(tmp_path, entries: str) -> dict[str, str]:
    if not NSS_WRAPPER.exists():
        pytest.fail("nss_wrapper is not installed: run deploy/install-tools.sh (libnss-wrapper)")
    hosts = tmp_path / "hosts"
    hosts.write_text(entries)
    return {**os.environ, "LD_PRELOAD": str(NSS_WRAPPER), "NSS_WRAPPER_HOSTS": str(hosts),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _child(env, ep) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, NAME, str(ep.port), ep.username, ep.password],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _ipmitool_by_name(env, ep) -> subprocess.CompletedProcess:
    return subprocess.run(["ipmitool", "-I", "lanplus", "-H", NAME, "-p", str(ep.port), "-U",
                           ep.username, "-P", ep.password, "-R", "1", "-N", "1", "power", "status"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_host_name_resolving_to_ipv6(fleet6, tmp_path):
    ep = fleet6.endpoints[2]
    fleet6.control.power([ep.key], "on")
    env = _with_hosts(tmp_path, f"::1 {NAME}\n")
    assert _child(env, ep) == {"power": True, "peer": ["::1", ep.port, 0, 0]}
    # ipmitool, given the same name in the same environment, reaches the same BMC.
    result = _ipmitool_by_name(env, ep)
    assert result.stdout.strip() == "Chassis Power is on", result.stderr


def test_host_name_with_both_families_takes_getaddrinfos_first_as_ipmitool(fleet6, tmp_path):
    # The name has ::1 (where the BMC listens) and an IPv4 address of this test's range
    # where nothing listens. Both clients take the first address getaddrinfo returns
    # (here, nss_wrapper keeps the file's order), so both reach the BMC or neither does.
    ep = fleet6.endpoints[0]
    fleet6.control.power([ep.key], "on")
    env = _with_hosts(tmp_path, f"::1 {NAME}\n127.233.0.1 {NAME}\n")
    assert _child(env, ep) == {"power": True, "peer": ["::1", ep.port, 0, 0]}
    assert _ipmitool_by_name(env, ep).returncode == 0
    env = _with_hosts(tmp_path, f"127.233.0.1 {NAME}\n::1 {NAME}\n")
    assert _child(env, ep) == {"power": None, "peer": ["127.233.0.1", ep.port]}
    assert _ipmitool_by_name(env, ep).returncode != 0


# -- an independent BMC on ::1: OpenIPMI's ipmi_sim --------------------------------------------


@pytest.fixture
def ipmi_sim6(tmp_path):
    """ipmi_sim (configured as in test_against_ipmi_sim.py) listening on ::1."""
    from tests import ipmi_sim

    if ipmi_sim.IPMI_SIM is None:
        pytest.fail("ipmi_sim is not installed: run deploy/install-tools.sh (openipmi)")
    port = random.randint(30000, 30999)
    user, password = "admin", "password"
    with ipmi_sim.running_ipmi_sim(tmp_path, "::1", port, user, password) as problem:
        assert problem is None, problem
        yield BmcCredentials("::1", port, user, password)


def test_ipmi_sim_on_ipv6_answers_us_as_it_answers_ipmitool(ipmi_sim6, engine_factory):
    def ipmitool6(*args):
        return subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "::1", "-p",
                               str(ipmi_sim6.port), "-U", ipmi_sim6.username, "-P",
                               ipmi_sim6.password, *args], capture_output=True, text=True, timeout=60)

    engine = engine_factory(retry_interval=0.5)
    ours = engine.call(ipmi_sim6, 0x06, 0x01, timeout=15)  # waits for ipmi_sim to start
    theirs = ipmitool6("raw", "0x06", "0x01")
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout == " " + " ".join(f"{b:02x}" for b in ours) + "\n"
    power = "on" if commands.get_power(engine, ipmi_sim6, 5) else "off"
    assert ipmitool6("power", "status").stdout == f"Chassis Power is {power}\n"
