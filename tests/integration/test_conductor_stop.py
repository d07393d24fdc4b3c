"""A conductor stopped gracefully gives its BMC session slots back before it exits.

A real stack (PostgreSQL, json-rpc, API, two ironic-conductors, each sending its IPMI
traffic from its own loopback address) polls a simulated fleet with native-ipmi. One
conductor's master process gets SIGTERM, as systemd sends it; once it has exited, the
simulator's ``requesters`` shows that conductor's address holding no slot on any BMC,
the other conductor's slots untouched, and after the survivor takes the nodes over every
BMC is held by exactly one session again (issue 11: one slot per BMC in steady state).

Addresses: conductors and BMCs in 127.125.0.0/16.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from ironic_scale.stack import enroll
from ironic_scale.stack.processes import Stack, StackSpec, children, process_alive
from tests.fleets import start_in_range

NODES = 8


alive = process_alive


def start_fleet(fleet_factory):
    return start_in_range(fleet_factory, NODES, "127.125", (1, 150))


def held_by(fleet) -> dict[str, dict[str, int]]:
    """BMC key -> {source address: slots held now}."""
    reply = fleet.control.requesters([ep.key for ep in fleet.endpoints])
    return {key: entry["held"] for key, entry in reply["requesters"].items()}


def wait_until(check, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_sigterm_logs_out_the_conductors_sessions_before_it_exits(tmp_path, fleet_factory):
    fleet = start_fleet(fleet_factory)
    base = f"127.125.{random.randint(200, 250)}.1"
    # A short ring refresh and sync, so the survivor takes the nodes over within seconds.
    spec = StackSpec(work=tmp_path / "stack", db="postgresql", conductors=2, conductor_base=base,
                     sync_interval=3, options={"DEFAULT": {"hash_ring_reset_interval": "3"}})
    with Stack(spec) as stack:
        stack.start()
        out = enroll.run_enroll(stack.config_files(), Path(fleet.inventory_path), "native-ipmi")
        assert out["created"] == NODES
        sources = {p.registered_name: p.source_address for p in stack.conductors}
        nodes = list(stack.client.nodes())
        owners = {n["name"]: sources[n["conductor"]] for n in nodes}
        assert len(set(owners.values())) == 2, owners  # both conductors own nodes
        for n in nodes:  # through each node's conductor: every BMC gets that one's session
            stack.client.request("PUT", f"/v1/nodes/{n['uuid']}/states/power", {"target": "power on"})

        def steady() -> dict | None:
            held = held_by(fleet)
            ok = all(len(h) == 1 and sum(h.values()) == 1 for h in held.values()) and \
                {next(iter(h)) for h in held.values()} == set(sources.values())
            return held if ok else None

        before = wait_until(steady, "one session per BMC, from its owner", 30)

        # The conductor that owns most nodes stops, as `systemctl stop` does (KillMode=mixed
        # sends SIGTERM to the main PID only; cotyledon passes it to its worker).
        victim = max(stack.conductors, key=lambda p: sum(o == p.source_address for o in owners.values()))
        survivor = next(p for p in stack.conductors if p is not victim)
        gone, stays = victim.source_address, survivor.source_address
        worker = children(victim.pid)[0]
        t0 = time.monotonic()
        os.kill(victim.pid, signal.SIGTERM)
        wait_until(lambda: not alive(victim.pid) and not alive(worker), "the conductor to exit", 45)
        stopped_in = time.monotonic() - t0

        after = held_by(fleet)  # right after exit: nothing expired yet (60 s session timeout)
        assert not [k for k, h in after.items() if gone in h], after
        # The survivor keeps its own; it may have begun taking the others over (the
        # sessions were released before the conductor deregistered), never sharing one.
        assert all(after[k] == {stays: 1} for k, h in before.items() if stays in h), after
        assert all(sum(h.values()) <= 1 for h in after.values()), after
        log = (stack.work / f"{victim.name}.log").read_text()
        assert "is stopping: logging out of its BMC sessions" in log
        assert fleet.control.counters().get("session.expired", 0) == 0

        # The survivor takes the moved nodes over: one slot per BMC, all its own.
        wait_until(lambda: all(h == {stays: 1} for h in held_by(fleet).values()),
                   "the survivor to hold every BMC", 40)
        assert fleet.control.slots()["max"] == 1  # never two slots on one BMC
    print(f"\nSIGTERM to exit: {stopped_in:.1f} s")
