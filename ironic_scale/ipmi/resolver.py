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
    """Host names to addresses: cached for ``ttl`` seconds, looked up off the caller's thread."""

    def __init__(self, ttl: float = 60.0, workers: int = 2, lookup: Lookup = _getaddrinfo):
        self.ttl = ttl
        self._lookup = lookup
        # Reentrant: a lookup that finishes at once runs its done-callback in
        # the submitting thread, inside resolve()'s locked block.
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, int], tuple[float, Peer]] = {}
        self._pending: dict[tuple[str, int], Future] = {}
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

        All lookups start first, then each is waited for until ``timeout`` after
        this call at the latest: one slow name costs the others nothing.
        """
        deadline = time.monotonic() + timeout
        started: dict[tuple[str, int], Peer | Future | errors.IPMIError] = {}
        for key in targets:
            if key not in started:
                try:
                    started[key] = self._start(*key)
                except errors.IPMIError as e:
                    started[key] = e
        peers: dict[tuple[str, int], Peer | errors.IPMIError] = {}
        for key, peer in started.items():
            if isinstance(peer, Future):
                try:
                    peer = self._wait(peer, key[0], max(0.0, deadline - time.monotonic()), timeout)
                except errors.IPMIError as e:
                    peer = e
            peers[key] = peer
        return peers

    def _start(self, address: str, port: int) -> Peer | Future:
        """The peer at once (numeric, or cached), or the Future of its lookup (one per name)."""
        numeric = canonical_ipv4(address)
        if numeric is not None:
            return (numeric, port)
        if ":" in address:  # never a host name
            peer = numeric_ipv6(address, port)
            if peer is None:
                raise errors.IPMIError(f"BMC address {address} is not a valid IPv6 address")
            return peer
        key = (address, port)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            future = self._pending.get(key)
            if future is None:  # one lookup per name, however many callers wait for it
                future = self._pool.submit(self._lookup, address, port)
                self._pending[key] = future
                future.add_done_callback(lambda f, key=key: self._done(key, f))
        return future

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
                if len(self._cache) > 4096:  # names of nodes long gone
                    now = time.monotonic()
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
