"""A hostile network in a box: a UDP relay on loopback between a client and one BMC.

The client is pointed at the relay's address; the relay forwards datagrams
both ways and lets a test drop, delay, rewrite, forge or replay them, playing
the attacker on the path or the broken BMC firmware of issue 9. Test-only:
the simulator stays an honest BMC.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable

from ironic_scale.rmcp import wire

# A hook gets (direction, datagram) and returns what to pass on: a list of
# (delay seconds, datagram); [] drops it. Direction is "request" or "reply".
Hook = Callable[[str, bytes], list[tuple[float, bytes]]]


def kind(datagram: bytes) -> str:
    """A short name for a datagram: 'open', 'rakp1'..'rakp4', 'authcaps', 'session', '?'."""
    try:
        pkt = wire.Packet.decode(datagram)
    except wire.Malformed:
        return "?"
    names = {wire.PAYLOAD_OPEN_SESSION_REQUEST: "open", wire.PAYLOAD_OPEN_SESSION_RESPONSE: "open",
             wire.PAYLOAD_RAKP1: "rakp1", wire.PAYLOAD_RAKP2: "rakp2",
             wire.PAYLOAD_RAKP3: "rakp3", wire.PAYLOAD_RAKP4: "rakp4"}
    if pkt.payload_type == wire.PAYLOAD_IPMI:
        return "authcaps" if pkt.session_id == 0 else "session"
    return names.get(pkt.payload_type, "?")


def session_id_of(datagram: bytes) -> int:
    """The session id in an RMCP+ header (the receiver's id)."""
    return struct.unpack_from("<I", datagram, 6)[0]


class Relay:
    """Forward datagrams between one client and ``upstream``, through ``hook``."""

    def __init__(self, upstream: tuple[str, int], address: str = "127.0.0.1"):
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((address, 0))
        self.address, self.port = self.front.getsockname()
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((address, 0))
        self.hook: Hook = lambda direction, data: [(0.0, data)]
        self.client: tuple[str, int] | None = None
        self.seen: Counter = Counter()  # ("request" | "reply", kind) -> datagrams seen
        self.replies: list[bytes] = []  # every reply from the BMC, in order
        self._later: list[tuple[float, int, str, bytes]] = []
        self._tick = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-relay", daemon=True)
        self._thread.start()

    def to_client(self, datagram: bytes, delay: float = 0.0) -> None:
        """Send ``datagram`` to the client as if it came from the BMC (forged or replayed)."""
        self._queue(delay, "reply", datagram)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.front.close()
        self.back.close()

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _queue(self, delay: float, direction: str, datagram: bytes) -> None:
        with self._lock:
            heapq.heappush(self._later, (time.monotonic() + delay, next(self._tick), direction,
                                         datagram))

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ, "request")
        sel.register(self.back, selectors.EVENT_READ, "reply")
        while not self._stop.is_set():
            for key, _ in sel.select(0.01):
                sock = key.fileobj
                try:
                    data, peer = sock.recvfrom(65536)
                except OSError:
                    continue
                direction = key.data
                if direction == "request":
                    self.client = peer
                else:
                    self.replies.append(data)
                self.seen[(direction, kind(data))] += 1
                for delay, out in self.hook(direction, data):
                    self._queue(delay, direction, out)
            self._flush()
        sel.close()

    def _flush(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._later or self._later[0][0] > now:
                    return
                _, _, direction, data = heapq.heappop(self._later)
            try:
                if direction == "request":
                    self.back.sendto(data, self.upstream)
                elif self.client is not None:
                    self.front.sendto(data, self.client)
            except OSError:
                pass
