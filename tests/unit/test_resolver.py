"""BMC addresses: canonical numeric forms, and host names looked up within a bound (issue 9)."""

import threading
import time
from concurrent.futures import Future

import pytest

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.resolver import Resolver, canonical_ipv4


@pytest.mark.parametrize("spelling", ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1",
                                      "0x7f000001", "0177.0.0.1"])
def test_numeric_spellings_become_the_dotted_quad(spelling):
    assert canonical_ipv4(spelling) == "127.0.0.1"


@pytest.mark.parametrize("text", ["127.0.0.1\n", " 127.0.0.1", "127.0.0.1 x", "bmc-1", "", "::1"])
def test_anything_else_is_not_numeric(text):
    assert canonical_ipv4(text) is None


def test_numeric_addresses_need_no_lookup():
    def lookup(host, port):
        raise AssertionError("looked up a numeric address")

    assert Resolver(lookup=lookup).resolve("127.1", 623, 1.0) == ("127.0.0.1", 623)


def test_a_slow_lookup_costs_the_caller_its_timeout_only():
    # A slow DNS server cannot run here (no resolver we may point at loopback),
    # so the lookup function stands in for it: it blocks until released.
    release = threading.Event()
    calls = []

    def slow_lookup(host, port):
        calls.append(host)
        release.wait(30)
        return ("127.0.0.9", port)

    resolver = Resolver(lookup=slow_lookup)
    started = time.monotonic()
    with pytest.raises(errors.BMCTimeout, match="resolving the BMC address bmc-7"):
        resolver.resolve("bmc-7", 623, 0.2)
    assert time.monotonic() - started < 5.0, "the caller waited for the lookup, not its timeout"
    with pytest.raises(errors.BMCTimeout):
        resolver.resolve("bmc-7", 623, 0.2)  # joins the same lookup
    release.set()
    deadline = time.monotonic() + 10
    while True:  # the pending lookup lands in the cache
        try:
            assert resolver.resolve("bmc-7", 623, 1.0) == ("127.0.0.9", 623)
            break
        except errors.BMCTimeout:
            assert time.monotonic() < deadline
    assert resolver.resolve("bmc-7", 623, 1.0) == ("127.0.0.9", 623)
    assert calls == ["bmc-7"], "one lookup per name, however many callers"


def test_a_failed_lookup_is_a_clear_error():
    def failing(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(errors.IPMIError, match="cannot resolve BMC address nowhere"):
        Resolver(lookup=failing).resolve("nowhere", 623, 1.0)


def test_localhost_resolves_from_the_hosts_file():
    assert Resolver().resolve("localhost", 623, 5.0) == ("127.0.0.1", 623)


@pytest.mark.parametrize("spelling", ["::1", "0:0::1", "0:0:0:0:0:0:0:1", "0000::0001"])
def test_ipv6_spellings_become_the_peer_recvfrom_reports(spelling):
    # recvfrom on an AF_INET6 socket reports ("::1", port, 0, 0) for a reply from ::1.
    assert Resolver().resolve(spelling, 30000, 1.0) == ("::1", 30000, 0, 0)


def test_ipv4_mapped_ipv6_stays_ipv6_as_the_kernel_reports_it():
    assert Resolver().resolve("::FFFF:127.0.0.1", 623, 1.0) == ("::ffff:127.0.0.1", 623, 0, 0)


@pytest.mark.parametrize("text", ["1::2::3", "::1%", "[::1]", ":::1"])
def test_bad_ipv6_is_a_clear_error_not_a_lookup(text):
    def lookup(host, port):
        raise AssertionError("looked up an address with a colon")

    with pytest.raises(errors.IPMIError, match="is not a valid IPv6 address"):
        Resolver(lookup=lookup).resolve(text, 623, 1.0)


def test_resolve_many_bounds_each_name_by_the_one_timeout():
    # The lookup stands in for a slow DNS server, as above: bmc-slow blocks until released.
    release = threading.Event()

    def lookup(host, port):
        if host == "bmc-slow":
            release.wait(30)
        if host == "bmc-gone":
            raise OSError("Name or service not known")
        return ("127.0.0.42", port)

    resolver = Resolver(lookup=lookup, workers=4)
    started = time.monotonic()
    try:
        peers = resolver.resolve_many([("bmc-slow", 623), ("bmc-a", 623), ("127.1", 624), ("bmc-a", 623),
                                       ("bmc-gone", 623), ("1::2::3", 623), ("::1", 30000)], 0.3)
    finally:
        release.set()
    assert time.monotonic() - started < 5.0, "waited for the slow name past the timeout"
    assert list(peers) == [("bmc-slow", 623), ("bmc-a", 623), ("127.1", 624), ("bmc-gone", 623),
                           ("1::2::3", 623), ("::1", 30000)]
    assert isinstance(peers["bmc-slow", 623], errors.BMCTimeout)
    assert "took longer than 0.3 s" in str(peers["bmc-slow", 623])
    assert peers["bmc-a", 623] == ("127.0.0.42", 623)
    assert peers["127.1", 624] == ("127.0.0.1", 624)
    assert "cannot resolve BMC address bmc-gone" in str(peers["bmc-gone", 623])
    assert "not a valid IPv6 address" in str(peers["1::2::3", 623])
    assert peers["::1", 30000] == ("::1", 30000, 0, 0)


class _Clock:
    """The resolver's clock, moved by hand: cache ages without waiting for them."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def _until(condition, what):
    """Wait for a lookup running in the resolver's pool to land (bounded)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        threading.Event().wait(0.005)


def test_a_sweeps_lookups_leave_room_for_another_callers():
    # Slow DNS as above: the sweep's lookups block until the gate opens. A
    # resolve() from another thread meanwhile must queue behind the few lookups
    # the sweep runs at a time, not behind all of its names.
    gate = threading.Event()
    calls = []

    def lookup(host, port):
        calls.append(host)
        if host.startswith("sweep-"):
            gate.wait(30)
        return ("127.0.0.42", port)

    resolver = Resolver(lookup=lookup, workers=2)
    names = [(f"sweep-{i}", 623) for i in range(40)]
    sweep = threading.Thread(target=resolver.resolve_many, args=(names, 20.0))
    sweep.start()
    _until(lambda: len(calls) == 2, "the sweep's first lookups did not start")
    other = threading.Thread(target=resolver.resolve, args=("other", 623, 20.0))
    other.start()
    _until(lambda: ("other", 623) in resolver._pending, "the other caller's lookup was not queued")
    gate.set()
    other.join(30)
    sweep.join(30)
    assert len(calls) == 41
    assert calls.index("other") <= 3, f"queued behind the sweep's names: {calls.index('other')}"


def test_names_a_sweep_never_reached_get_a_timeout_that_says_so():
    gate = threading.Event()

    def lookup(host, port):
        gate.wait(30)
        return ("127.0.0.42", port)

    resolver = Resolver(lookup=lookup, workers=1)
    started = time.monotonic()
    try:
        peers = resolver.resolve_many([("bmc-1", 623), ("bmc-2", 623), ("bmc-3", 623)], 0.2)
    finally:
        gate.set()
    assert time.monotonic() - started < 5.0
    assert "took longer than 0.2 s" in str(peers["bmc-1", 623])
    for key in (("bmc-2", 623), ("bmc-3", 623)):
        assert isinstance(peers[key], errors.BMCTimeout)
        assert "was not looked up: resolving 3 host names took longer than 0.2 s" in str(peers[key])


def test_an_expired_name_answers_at_once_while_it_is_looked_up_again(monkeypatch):
    from ironic_scale.ipmi import resolver as module

    clock = _Clock()
    monkeypatch.setattr(module, "time", clock)
    answer = {"bmc": ("127.0.0.1", 623)}
    gate = threading.Event()
    gate.set()
    calls = []

    def lookup(host, port):
        calls.append(host)
        gate.wait(30)
        if isinstance(answer[host], Exception):
            raise answer[host]
        return answer[host]

    resolver = Resolver(ttl=60.0, lookup=lookup)
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.1", 623)
    answer["bmc"] = ("127.0.0.2", 623)  # the name moved in DNS
    clock.now += 61
    gate.clear()  # and the DNS server is slow: the caller must not wait for it
    assert resolver.resolve("bmc", 623, 0.1) == ("127.0.0.1", 623)
    assert resolver.resolve_many([("bmc", 623)], 0.1) == {("bmc", 623): ("127.0.0.1", 623)}
    gate.set()
    _until(lambda: resolver.resolve("bmc", 623, 1.0) == ("127.0.0.2", 623), "never refreshed")
    assert calls == ["bmc", "bmc"], "one refresh, however many callers saw the name expired"

    answer["bmc"] = OSError("Name or service not known")  # the name was deleted
    clock.now += 61
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.2", 623)
    _until(lambda: ("bmc", 623) not in resolver._cache, "a failed refresh kept the old address")
    with pytest.raises(errors.IPMIError, match="cannot resolve BMC address bmc"):
        resolver.resolve("bmc", 623, 1.0)

    answer["bmc"] = ("127.0.0.3", 623)
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.3", 623)
    answer["bmc"] = ("127.0.0.4", 623)
    clock.now += 121  # expired for longer than one more ttl: too old, the caller waits
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.4", 623)


def test_a_large_cache_is_pruned_of_expired_names_only_now_and_then(monkeypatch):
    from ironic_scale.ipmi import resolver as module

    clock = _Clock()
    monkeypatch.setattr(module, "time", clock)
    resolver = Resolver(ttl=60.0, lookup=lambda host, port: ("127.0.0.1", port))
    prunes = []
    done = resolver._done

    def counting_done(key, future):
        before = resolver._cache
        done(key, future)
        if resolver._cache is not before:
            prunes.append(len(resolver._cache))

    monkeypatch.setattr(resolver, "_done", counting_done)
    old = [(f"gone-{i}", 623) for i in range(3000)]
    assert all(not isinstance(p, Exception) for p in resolver.resolve_many(old, 10.0).values())
    clock.now += 121  # those nodes are long gone
    live = [(f"bmc-{i}", 623) for i in range(6000)]
    assert all(not isinstance(p, Exception) for p in resolver.resolve_many(live, 10.0).values())
    assert not any(k in resolver._cache for k in old), "expired names were never dropped"
    assert all(k in resolver._cache for k in live)
    # One pass over the cache per doubling, not one per name (which at 25,000
    # host names was ~600 million entry visits a sweep).
    assert 1 <= len(prunes) <= 2, prunes


def test_an_expired_name_still_answers_when_no_refresh_can_start(monkeypatch):
    # At interpreter exit the pools take no new work: the stale answer must not raise.
    from ironic_scale.ipmi import resolver as module

    clock = _Clock()
    monkeypatch.setattr(module, "time", clock)
    resolver = Resolver(ttl=60.0, lookup=lambda host, port: ("127.0.0.1", port))
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.1", 623)
    resolver._pool.shutdown()
    clock.now += 61
    assert resolver.resolve("bmc", 623, 1.0) == ("127.0.0.1", 623)
    assert resolver.resolve_many([("bmc", 623)], 1.0) == {("bmc", 623): ("127.0.0.1", 623)}


class _InlinePool:
    """A pool whose lookups are done before submit returns: a lookup answered from
    /etc/hosts can finish before its done-callback is added, and this makes it always."""

    def submit(self, fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future


def test_refreshes_go_on_when_each_is_done_before_its_callback_is_added(monkeypatch):
    from ironic_scale.ipmi import resolver as module

    clock = _Clock()
    monkeypatch.setattr(module, "time", clock)
    calls = []

    def lookup(host, port):
        calls.append(host)
        return ("127.0.0.1", port)

    resolver = Resolver(ttl=60.0, lookup=lookup)
    resolver._pool = _InlinePool()
    names = [(f"bmc-{i}", 623) for i in range(3)]
    resolver.resolve_many(names, 1.0)
    clock.now += 61
    assert resolver.resolve_many(names, 1.0) == {k: ("127.0.0.1", 623) for k in names}
    assert calls == ["bmc-0", "bmc-1", "bmc-2"] * 2, "the refresh chain stalled"
    assert all(resolver._cache[k][0] > clock.now for k in names)
    clock.now += 61
    resolver.resolve_many(names, 1.0)
    assert len(calls) == 9, "refreshing stopped for good after a quick lookup"
