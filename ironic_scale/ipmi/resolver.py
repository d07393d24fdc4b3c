"""BMC addresses to the peer their replies come from, bounded in time.

Replies are matched by the address they come from, so a peer must be exactly
what ``recvfrom`` reports: ``127.1`` or ``0x7f.0.0.1`` (which inet_aton
accepts) would never match ``127.0.0.1``, nor ``0:0::1`` match ``::1``. An
IPv4 peer is ``(ip, port)``, an IPv6 peer ``(ip, port, 0, scope_id)`` (the
kernel reports flow info 0; the scope is the interface of a link-local address).
Host names are looked up on a small pool of threads, never in the caller's
thread without a bound: a slow resolver must cost a caller at most its command
timeout, and a name is looked up at most once per ``ttl`` however many calls use it.

A name with both IPv4 and IPv6 addresses gets the first one getaddrinfo returns
that this host can send to, as ipmitool does (RFC 6724 order, /etc/gai.conf).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ironic_scale.ipmi import errors

Peer = tuple  # (ip, port) for IPv4, (ip, port, 0, scope_id) for IPv6, as recvfrom reports it
Lookup = Callable[[str, int], Peer]
_NUMERIC = set(string.hexdigits + "xX.")


def canonical_ipv4(address: str) -> str | None:
    """The dotted quad of a numeric IPv4 address in any inet_aton spelling, else None."""
    try:  # the hot path (every poll): already canonical, two C calls
        if socket.inet_ntoa(socket.inet_aton(address)) == address:
            return address
    except (OSError, TypeError, ValueError):
        pass
    if not address or not set(address) <= _NUMERIC:
        return None  # inet_aton would also accept "127.0.0.1 trailing junk"
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(address))
    except OSError:
        return None


def is_ipv6(peer: Peer) -> bool:
    """Whether ``peer`` (from the resolver or recvfrom) is an IPv6 socket address."""
    return len(peer) == 4


def _peer(sockaddr: tuple) -> Peer:
    """A getaddrinfo socket address as recvfrom will report its replies' source.

    Python formats both with getnameinfo(NI_NUMERICHOST), so the text already matches.
    """
    if len(sockaddr) == 2:
        return (sockaddr[0], sockaddr[1])
    return (sockaddr[0], sockaddr[1], 0, sockaddr[3])


@functools.lru_cache(maxsize=65536)
def numeric_ipv6(address: str, port: int) -> Peer | None:
    """The peer of a numeric IPv6 address (any RFC 4291 spelling, ``%zone`` too), else None.

    Cached: the power-sync hot path resolves the same few thousand addresses again
    and again, and a numeric address never changes its meaning.
    """
    if ":" not in address:
        return None
    try:
        info = socket.getaddrinfo(address, port, socket.AF_INET6, socket.SOCK_DGRAM, 0,
                                  socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return _peer(info[0][4])


def numeric_peer(address: str, port: int) -> Peer | None:
    """The peer of a numeric IPv4 or IPv6 address, or None for a host name (or junk).

    No lookup and no lock: what the engine's fast paths ask before they bypass the resolver.
    """
    numeric = canonical_ipv4(address)
    if numeric is not None:
        return (numeric, port)
    return numeric_ipv6(address, port) if ":" in address else None


def _reachable(family: int, sockaddr: tuple) -> bool:
    """Whether this host can send to ``sockaddr`` (ipmitool's test: a UDP connect)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
        return True
    except OSError:
        return False


def _getaddrinfo(host: str, port: int) -> Peer:
    """The first address of ``host`` this host can send to, in getaddrinfo's order."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
    usable = [i for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)]
    for family, _, _, _, sockaddr in usable:
        if len(usable) == 1 or _reachable(family, sockaddr):
            return _peer(sockaddr)
    if usable:
        raise OSError(f"no route to any of its addresses ({', '.join(i[4][0] for i in usable)})")
    raise OSError("it has no IPv4 or IPv6 address")


class Resolver:
    """Host names to addresses: cached for ``ttl`` seconds, looked up off the caller's thread.

    An entry past its ``ttl`` is still answered for one more ``ttl`` while one
    background lookup at a time refreshes such entries: a conductor whose sweep
    comes round every ``ttl`` would otherwise wait for its whole fleet's names
    again on each sweep. A refresh that fails drops the entry, so the next call
    reports why.
    """

    def __init__(self, ttl: float = 60.0, workers: int = 2, lookup: Lookup = _getaddrinfo):
        self.ttl = ttl
        self.workers = workers
        self._lookup = lookup
        # Reentrant: a lookup that finishes at once runs its done-callback in
        # the submitting thread, inside resolve()'s locked block.
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, int], tuple[float, Peer]] = {}
        self._prune_at = 4096  # cache size that triggers dropping long-expired names
        self._pending: dict[tuple[str, int], Future] = {}
        self._stale: dict[tuple[str, int], None] = {}  # waiting for a refresh, oldest first
        self._refreshing: Future | None = None
        self._starting_refreshes = False  # _refresh_next is running in this thread
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ipmi-resolver")

    def resolve(self, address: str, port: int, timeout: float) -> Peer:
        """The peer for ``address``; raises IPMIError, at the latest after ``timeout``."""
        started = self._start(address, port)
        if isinstance(started, Future):
            return self._wait(started, address, timeout, timeout)
        return started

    def resolve_many(self, targets: Iterable[tuple[str, int]],
                     timeout: float) -> dict[tuple[str, int], Peer | errors.IPMIError]:
        """Every ``(address, port)``'s peer, or the IPMIError why not.

        Names not cached are looked up at most ``workers`` at a time, each given
        ``timeout`` from its start, and none starts later than ``timeout`` after
        this call: a slow name costs the others nothing, the whole takes at most
        twice ``timeout``, and a ``resolve`` from another thread waits behind a
        few lookups, not behind a fleet's. Names never started are looked up by
        the next call.
        """
        closing = time.monotonic() + timeout  # no lookup starts after this
        peers: dict[tuple[str, int], Peer | errors.IPMIError | None] = {}
        cold: list[tuple[str, int]] = []
        for key in targets:
            if key not in peers:
                try:
                    peers[key] = self._known(*key)
                except errors.IPMIError as e:
                    peers[key] = e
                if peers[key] is None:
                    cold.append(key)
        waiting: dict[Future, tuple[tuple[str, int], float]] = {}
        queued = iter(cold)
        while True:
            now = time.monotonic()
            while len(waiting) < self.workers and now < closing:
                key = next(queued, None)
                if key is None:
                    break
                started = self._start(*key)  # cached meanwhile by another caller's lookup?
                if isinstance(started, Future):
                    waiting[started] = (key, now + timeout)
                else:
                    peers[key] = started
            if not waiting:
                break
            futures.wait(waiting, min(d for _, d in waiting.values()) - now,
                         return_when=futures.FIRST_COMPLETED)
            now = time.monotonic()
            for future, (key, deadline) in list(waiting.items()):
                if future.done() or deadline <= now:
                    del waiting[future]
                    try:
                        peers[key] = self._wait(future, key[0], 0.0, timeout)
                    except errors.IPMIError as e:
                        peers[key] = e
        for key in queued:
            peers[key] = errors.BMCTimeout(
                f"BMC address {key[0]} was not looked up: resolving {len(cold)} host names "
                f"took longer than {timeout:g} s (it is looked up on the next call)")
        return peers  # type: ignore[return-value]  # every None was replaced above

    def _known(self, address: str, port: int) -> Peer | None:
        """The peer with no lookup (numeric, or cached), or None: a name to look up."""
        numeric = canonical_ipv4(address)
        if numeric is not None:
            return (numeric, port)
        if ":" in address:  # never a host name
            peer = numeric_ipv6(address, port)
            if peer is None:
                raise errors.IPMIError(f"BMC address {address} is not a valid IPv6 address")
            return peer
        key = (address, port)
        hit = self._cache.get(key)
        if hit is None:
            return None
        expires, peer = hit
        now = time.monotonic()
        if expires > now:
            return peer
        if expires + self.ttl <= now:
            return None  # too old to answer with: looked up again, the caller waits
        with self._lock:
            if key not in self._pending and key in self._cache:
                self._stale[key] = None
                self._refresh_next()
        return peer

    def _start(self, address: str, port: int) -> Peer | Future:
        """The peer at once (numeric, or cached), or the Future of its lookup (one per name)."""
        peer = self._known(address, port)
        if peer is not None:
            return peer
        key = (address, port)
        with self._lock:
            future = self._pending.get(key)
            if future is None:  # one lookup per name, however many callers wait for it
                future = self._submit(key)
        return future

    def _submit(self, key: tuple[str, int], refresh: bool = False) -> Future:
        """Start looking ``key`` up (under the lock)."""
        future = self._pool.submit(self._lookup, *key)
        self._pending[key] = future
        if refresh:  # before the callback: a lookup done already runs _done right here
            self._refreshing = future
        future.add_done_callback(lambda f, key=key: self._done(key, f))
        return future

    def _refresh_next(self) -> None:
        """Start the oldest waiting refresh if none runs (under the lock)."""
        if self._starting_refreshes:  # a refresh done at once calls back in: the loop below goes on
            return
        self._starting_refreshes = True
        try:
            while self._refreshing is None and self._stale:
                key = next(iter(self._stale))
                del self._stale[key]
                hit = self._cache.get(key)
                if key not in self._pending and hit is not None and hit[0] <= time.monotonic():
                    try:
                        self._submit(key, refresh=True)
                    except RuntimeError:  # the interpreter is exiting: its pools take no work
                        self._stale.clear()
        finally:
            self._starting_refreshes = False

    @staticmethod
    def _wait(future: Future, address: str, wait: float, timeout: float) -> Peer:
        """The lookup's peer within ``wait`` seconds; ``timeout`` is the bound the caller set."""
        try:
            return future.result(wait)
        except FutureTimeout:
            raise errors.BMCTimeout(f"resolving the BMC address {address} took longer than "
                                    f"{timeout:g} s") from None
        except (OSError, UnicodeError, ValueError) as e:
            raise errors.IPMIError(f"cannot resolve BMC address {address}: {e}") from None

    def _done(self, key: tuple[str, int], future: Future) -> None:
        with self._lock:
            self._pending.pop(key, None)
            if future.exception() is None:
                self._cache[key] = (time.monotonic() + self.ttl, future.result())
                if len(self._cache) > self._prune_at:  # names of nodes long gone
                    now = time.monotonic() - self.ttl
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                    # Amortised: pruning a large live fleet's cache on every lookup
                    # would cost a whole pass over it per name.
                    self._prune_at = max(4096, 2 * len(self._cache))
            else:
                self._cache.pop(key, None)  # a refresh failed: the next call learns why
            if future is self._refreshing:
                self._refreshing = None
                self._refresh_next()
