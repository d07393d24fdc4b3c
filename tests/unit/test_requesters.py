"""Who asked: the engine's source address option, and the simulator's record of each
BMC's requesters by client source address (in process, no sockets)."""

from __future__ import annotations

import random
import socket
import time
from concurrent.futures import Future

import pytest
from oslo_config import cfg

from ironic_scale import conf as ns_conf
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine, EngineConfig, bind_address, check_source_address
from ironic_scale.ipmi.session import ACTIVE, Call, ClientSession
from ironic_scale.rmcp import wire
from ironic_scale.sim.behaviour import Behaviour
from ironic_scale.sim.bmc import OTHER_SOURCES, REQUESTERS_LIMIT, Bmc
from ironic_scale.sim.fleet import Fleet, merge_requesters
from ironic_scale.sim.inventory import Endpoint

A, B = "127.123.250.1", "127.123.250.2"

# -- the source address option ----------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_source_address_lets_the_kernel_pick(value):
    assert check_source_address(value) is None
    assert bind_address(None, socket.AF_INET) == "0.0.0.0"
    assert bind_address(None, socket.AF_INET6) == "::"


def test_source_address_is_canonical_and_binds_only_its_own_family():
    assert check_source_address(" 127.123.250.1 ") == A
    assert check_source_address("::1") == "::1"
    assert bind_address(A, socket.AF_INET) == A
    assert bind_address(A, socket.AF_INET6) == "::"  # an IPv4 source is no IPv6 source
    assert bind_address("::1", socket.AF_INET) == "0.0.0.0"
    assert bind_address("::1", socket.AF_INET6) == "::1"


@pytest.mark.parametrize(("value", "reason"), [
    ("conductor-1", "not an IPv4 or IPv6 address"),
    ("127.123.0.300", "not an IPv4 or IPv6 address"),
    ("127.1", "not an IPv4 or IPv6 address"),  # no inet_aton shorthands
    ("0.0.0.0", "leave the source address unset"),
    ("::", "leave the source address unset"),
    ("224.0.0.1", "not a unicast address"),
    ("255.255.255.255", "not a unicast address"),
    ("192.0.2.1", "cannot be bound on this host"),  # TEST-NET-1: no address of this host
])
def test_unusable_source_addresses_are_refused_with_the_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        check_source_address(value)


def test_engine_refuses_a_bad_source_when_made_and_binds_a_good_one():
    with pytest.raises(ValueError, match="cannot be bound"):
        Engine(EngineConfig(source_address="192.0.2.1"))
    engine = Engine(EngineConfig(sockets=2, source_address=A))
    try:
        engine.stats()  # starts the engine: its sockets are open now
        # Two IPv4 sockets on the source; two IPv6 ones on the wildcard (it is no IPv6 source).
        assert [s.getsockname()[0] for s in engine._socks] == [A, A, "::", "::"]
    finally:
        engine.shutdown()


def test_engine_sockets_bind_any_address_for_a_source_of_the_other_family():
    engine = Engine(EngineConfig(sockets=1, source_address="::1"))
    try:
        engine.stats()
        assert [s.getsockname()[0] for s in engine._socks] == ["0.0.0.0", "::1"]
    finally:
        engine.shutdown()


def test_conf_option_reaches_the_engine_config_and_names_itself_when_bad():
    conf = cfg.ConfigOpts()
    ns_conf.register_opts(conf)
    conf([])
    assert ns_conf.engine_config(conf).source_address is None
    conf.set_override("source_address", A, group="native_ipmi")
    assert ns_conf.engine_config(conf).source_address == A
    conf.set_override("source_address", "conductor-1", group="native_ipmi")
    with pytest.raises(ValueError, match=r"^\[native_ipmi\]source_address: .*conductor-1"):
        ns_conf.engine_config(conf)


# -- the simulator's record -------------------------------------------------------------

KEY = "127.123.0.1:623"


def make_fleet(*keys: str) -> Fleet:
    endpoints = [Endpoint(k.split(":")[0], int(k.split(":")[1]), "admin", "password")
                 for k in keys or (KEY,)]
    return Fleet(endpoints, Behaviour(), Behaviour(), seed=1)


class Client:
    """One console session driven straight into ``Bmc.handle`` from ``(source, port)``."""

    def __init__(self, bmc: Bmc, source: str, port: int = 40000):
        self.bmc, self.peer = bmc, (source, port)
        creds = BmcCredentials(bmc.name.split(":")[0], 623, "admin", "password")
        self.out: list[bytes] = []
        self.session = ClientSession(creds, random.getrandbits(31) + 1, 0,
                                     lambda s, p: self.out.append(p), 1.0, 0.0)

    def _pump(self, now: float) -> None:
        while self.out:
            reply = self.bmc.handle(self.out.pop(0), self.peer, now)
            for d in reply if isinstance(reply, list) else [reply] if reply else []:
                self.session.on_packet(wire.Packet.decode(d), now)

    def status(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        future: Future = Future()
        self.session.submit(Call(0x00, 0x01, b"", now + 10, future), now)
        self._pump(now)
        assert self.session.state == ACTIVE
        return bool(future.result(0)[0] & 1)

    def logout(self) -> None:
        self.out.append(self.session.logout_packet())
        self._pump(time.monotonic())


def requesters(fleet: Fleet, **req) -> dict:
    return fleet.control({"op": "requesters", **req})


def test_each_source_is_counted_apart_and_its_held_sessions_listed():
    fleet = make_fleet(KEY, "127.123.0.2:623")
    bmc = fleet.bmcs[KEY]
    t0 = time.monotonic()
    a, b = Client(bmc, A), Client(bmc, B, 40001)
    a.status()
    a.status()
    b.status()
    reply = requesters(fleet)
    entry = reply["requesters"][KEY]
    assert set(reply["requesters"]) == {KEY}  # the BMC nobody asked is left out
    assert {ip: (e["logins"], e["status_reads"]) for ip, e in entry["sources"].items()} == {
        A: (1, 2), B: (1, 1)}
    assert all(t0 <= e["last_status"] <= reply["now"] for e in entry["sources"].values())
    assert entry["held"] == {A: 1, B: 1}
    assert [(s["source"], s["port"], s["state"]) for s in entry["sessions"]] == [
        (A, 40000, "active"), (B, 40001, "active")]
    assert entry["sessions"][0]["opened"] <= entry["sessions"][1]["opened"]
    assert entry["sources_peak"] == 2 and reply["sources_peak"] == 2
    assert reply["shared_now"] == 1 and reply["held_max"] == 2 and reply["bmcs"] == 2
    assert reply["sources"][A]["status_reads"] == 2 and reply["sources"][A]["bmcs_held"] == 1

    a.logout()
    entry = requesters(fleet, addresses=[KEY])["requesters"][KEY]
    assert entry["held"] == {B: 1} and entry["sources"][A]["logins"] == 1
    # Asked by address, a BMC is listed even with nothing to show.
    assert requesters(fleet, addresses=["127.123.0.2:623"])["requesters"]["127.123.0.2:623"] == {
        "sources": {}, "held": {}, "sessions": [], "sources_peak": 0}


def test_reset_clears_counts_after_reading_them_and_restarts_the_peak_from_now():
    fleet = make_fleet()
    bmc = fleet.bmcs[KEY]
    a, b = Client(bmc, A), Client(bmc, B)
    a.status()
    b.status()
    b.logout()
    assert requesters(fleet, reset=True)["sources"][A]["status_reads"] == 1
    reply = requesters(fleet)
    entry = reply["requesters"][KEY]
    assert entry["sources"] == {} and entry["held"] == {A: 1}  # A still holds its session
    assert entry["sources_peak"] == 1 and reply["sources"][A]["status_reads"] == 0
    assert "requesters" not in requesters(fleet, detail=False)


def test_expired_sessions_are_no_longer_held_but_stay_counted():
    fleet = make_fleet()
    bmc = fleet.bmcs[KEY]
    long_ago = time.monotonic() - 2 * bmc.behaviour.session_timeout
    Client(bmc, A).status(now=long_ago)
    entry = requesters(fleet)["requesters"][KEY]
    assert entry["held"] == {} and entry["sessions"] == []
    assert entry["sources"][A]["logins"] == 1 and entry["sources"][A]["last_status"] == long_ago


def test_sources_per_bmc_are_bounded():
    bmc = make_fleet().bmcs[KEY]
    for i in range(REQUESTERS_LIMIT + 10):
        bmc.note_status_read(f"127.123.251.{i}", float(i))
    assert len(bmc.requesters) == REQUESTERS_LIMIT + 1
    assert bmc.requesters[OTHER_SOURCES][1] == 10


def test_replies_of_several_workers_merge_into_one():
    one, two = make_fleet(KEY), make_fleet("127.123.0.2:623")
    Client(one.bmcs[KEY], A).status()
    Client(two.bmcs["127.123.0.2:623"], A).status()
    Client(two.bmcs["127.123.0.2:623"], B).status()
    merged = merge_requesters([requesters(one), requesters(two)])
    assert merged["bmcs"] == 2 and merged["shared_now"] == 1 and merged["sources_peak"] == 2
    assert set(merged["requesters"]) == {KEY, "127.123.0.2:623"}
    assert (merged["sources"][A]["bmcs"], merged["sources"][A]["status_reads"]) == (2, 2)
    assert merged["sources"][B]["held"] == 1
    assert "requesters" not in merge_requesters([requesters(one, detail=False)])


def test_status_reads_from_a_known_source_update_its_entry_in_place():
    bmc = make_fleet().bmcs[KEY]
    bmc.note_status_read(A, 1.0)
    entry = bmc.requesters[A]
    for i in range(1000):
        bmc.note_status_read(A, float(i))
    assert bmc.requesters == {A: entry} and entry == [0, 1001, 999.0]
