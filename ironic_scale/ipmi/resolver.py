"""BMC addresses to the (ip, port) their replies come from, bounded in time.

Replies are matched by the address they come from, so an address must be in
the canonical form the kernel reports: ``127.1`` or ``0x7f.0.0.1`` (which
inet_aton accepts) would never match ``127.0.0.1``. Host names are looked up
on a small pool of threads, never in the caller's thread without a bound: a
slow resolver must cost a caller at most its command timeout, and a name is
looked up at most once per ``ttl`` however many calls use it.
"""

from __future__ import annotations

import ipaddress
import socket
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ironic_scale.ipmi import errors

Lookup = Callable[[str, int], tuple[str, int]]
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


def _getaddrinfo(host: str, port: int) -> tuple[str, int]:
    info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    return info[0][4][:2]


class Resolver:
    """Host names to addresses: cached for ``ttl`` seconds, looked up off the caller's thread."""

    def __init__(self, ttl: float = 60.0, workers: int = 2, lookup: Lookup = _getaddrinfo):
        self.ttl = ttl
        self._lookup = lookup
        # Reentrant: a lookup that finishes at once runs its done-callback in
        # the submitting thread, inside resolve()'s locked block.
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, int], tuple[float, tuple[str, int]]] = {}
        self._pending: dict[tuple[str, int], Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ipmi-resolver")

    def resolve(self, address: str, port: int, timeout: float) -> tuple[str, int]:
        """(ip, port) for ``address``; raises IPMIError, at the latest after ``timeout``."""
        numeric = canonical_ipv4(address)
        if numeric is not None:
            return (numeric, port)
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
        try:
            return future.result(timeout)
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
