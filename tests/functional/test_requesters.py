"""Who polls which BMC: engines bound to their own source addresses against the simulator
over real UDP, and the simulator's ``requesters`` record (control socket and CLI).

Everything (BMCs and client sources) is in 127.123.0.0/16.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import pytest

from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.poller import PowerPoller
from ironic_scale.sim.launcher import FleetFailed, RunningFleet

A, B = "127.123.250.1", "127.123.250.2"


def start(fleet_factory, count: int, *args: str) -> RunningFleet:
    """A fleet in 127.123.X.0/24 (X random), trying another X if one is taken."""
    for attempt in range(5):
        try:
            return fleet_factory(count, "--address", f"127.123.{random.randint(1, 199)}.1", *args)
        except FleetFailed as e:
            if "in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def creds(fleet: RunningFleet) -> list[BmcCredentials]:
    return [BmcCredentials(ep.address, ep.port, ep.username, ep.password) for ep in fleet.endpoints]


def poll(engine, targets: list[BmcCredentials], times: int = 1) -> None:
    with PowerPoller(engine, pool_size=2) as poller:
        for _ in range(times):
            assert poller.poll(targets, timeout=10.0) == [False] * len(targets)


def counts(entry: dict) -> dict[str, tuple[int, int]]:
    return {ip: (e["logins"], e["status_reads"]) for ip, e in entry["sources"].items()}


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def run_ctl(fleet: RunningFleet, *args: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "sim", "ctl", "--control",
                          fleet.control.path, "requesters", *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_each_engine_is_seen_at_its_source_on_exactly_the_bmcs_it_polls(fleet_factory,
                                                                         engine_factory):
    fleet = start(fleet_factory, 12, "--processes", "2")  # two workers: replies are merged
    bmcs = creds(fleet)
    keys = [ep.key for ep in fleet.endpoints]
    a, b = engine_factory(source_address=A), engine_factory(source_address=B)
    t0 = time.monotonic()
    poll(a, bmcs[:8], times=2)  # A: 0-7, B: 4-11; both ask 4-7
    poll(b, bmcs[4:], times=1)

    reply = fleet.control.requesters()
    assert reply["bmcs"] == 12 and set(reply["requesters"]) == set(keys)
    for i, key in enumerate(keys):
        entry = reply["requesters"][key]
        expected = {**({A: (1, 2)} if i < 8 else {}), **({B: (1, 1)} if i >= 4 else {})}
        assert counts(entry) == expected, key
        assert entry["held"] == {ip: 1 for ip in expected}, key
        assert {s["source"] for s in entry["sessions"]} == set(expected)
        assert all(s["state"] == "active" and t0 <= s["opened"] <= reply["now"]
                   for s in entry["sessions"])
        assert all(t0 <= e["last_status"] <= reply["now"] for e in entry["sources"].values())
        assert entry["sources_peak"] == len(expected)
    assert reply["shared_now"] == 4 and reply["sources_peak"] == 2 and reply["held_max"] == 2
    assert {ip: (t["bmcs"], t["logins"], t["status_reads"], t["held"])
            for ip, t in reply["sources"].items()} == {A: (8, 8, 16, 8), B: (8, 8, 8, 8)}

    # Only the BMCs asked for; the CLI says the same; --reset reads, then clears.
    one = fleet.control.requesters([keys[5]])
    assert set(one["requesters"]) == {keys[5]} and one["bmcs"] == 1
    summary = run_ctl(fleet, "--summary")
    assert "requesters" not in summary and summary["sources"] == reply["sources"]
    assert run_ctl(fleet, keys[0], "--reset")["requesters"][keys[0]]["sources"][A]["status_reads"] == 2
    after = fleet.control.requesters([keys[0], keys[11]])["requesters"]
    assert after[keys[0]]["sources"] == {} and after[keys[0]]["held"] == {A: 1}
    assert counts(after[keys[11]]) == {B: (1, 1)}  # reset only what it named

    # Logging out gives the slot back, and the simulator shows it at once.
    a.close(bmcs[0])
    assert wait_for(lambda: fleet.control.requesters([keys[0]])["requesters"][keys[0]]["held"] == {})
    b.shutdown()
    gone = wait_for(lambda: B not in fleet.control.requesters(detail=False)["sources"]
                    or fleet.control.requesters(detail=False)["sources"][B]["held"] == 0)
    assert gone
    final = fleet.control.requesters()
    assert all(B not in e["held"] for e in final["requesters"].values())
    assert final["sources"][A]["held"] == 7 and final["shared_now"] == 0


def test_a_survivor_takes_over_without_ever_sharing_a_bmc(fleet_factory, engine_factory):
    """Rebalance: A stops (logging out), B polls A's BMCs; no BMC is ever held by both."""
    fleet = start(fleet_factory, 8)
    bmcs = creds(fleet)
    a, b = engine_factory(source_address=A), engine_factory(source_address=B)
    poll(a, bmcs)
    fleet.control.slots(reset=True)
    fleet.control.requesters(reset=True)  # peaks restart from A's one session per BMC
    stopped = time.monotonic()
    a.shutdown()
    poll(b, bmcs)
    reply = fleet.control.requesters()
    for entry in reply["requesters"].values():
        assert counts(entry) == {B: (1, 1)} and entry["held"] == {B: 1}
        assert entry["sources_peak"] == 1
        assert entry["sources"][B]["last_status"] > stopped
    assert reply["sources_peak"] == 1 and reply["shared_now"] == 0
    assert fleet.control.slots()["max"] == 1  # never two slots on one BMC, handshakes included


def test_sessions_expired_by_the_bmc_are_no_longer_held(fleet_factory, engine_factory):
    fleet = start(fleet_factory, 3, "--session-timeout", "2s")
    bmcs = creds(fleet)
    engine = engine_factory(source_address=A, keepalive_interval=0.0)  # lets sessions lapse
    poll(engine, bmcs)
    assert fleet.control.requesters(detail=False)["sources"][A]["held"] == 3
    assert wait_for(lambda: fleet.control.requesters(detail=False)["sources"][A]["held"] == 0)
    totals = fleet.control.requesters(detail=False)["sources"][A]
    assert (totals["bmcs"], totals["logins"], totals["status_reads"]) == (3, 3, 3)
    poll(engine, bmcs)  # the engine logs in again from the same source
    totals = fleet.control.requesters(detail=False)["sources"][A]
    assert (totals["logins"], totals["status_reads"], totals["held"]) == (6, 6, 3)


def test_unknown_bmc_is_a_clear_cli_error(fleet_factory):
    fleet = start(fleet_factory, 1)
    res = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "sim", "ctl", "--control",
                          fleet.control.path, "requesters", "127.123.255.254:623"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no simulated BMC at 127.123.255.254:623" in res.stderr


@pytest.mark.parametrize("bad", ["192.0.2.1", "conductor-1"])
def test_engine_with_an_unusable_source_is_refused_when_made(engine_factory, bad):
    with pytest.raises(ValueError, match="source address"):
        engine_factory(source_address=bad)
