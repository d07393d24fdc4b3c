"""The simulator's control channel: JSON lines over a Unix socket.

Tests, benchmarks and ``ironic-scale sim ctl`` use it to read counters and to
inject faults (dead BMCs, latency, loss, BMC reboots, out-of-band power).
"""

from __future__ import annotations

import json
import socket
from typing import Any


class ControlError(RuntimeError):
    """The simulator refused or failed a control request."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


class SimControl:
    """Blocking client for a running simulator's control socket."""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
            except OSError as e:
                raise ControlError(f"cannot reach the simulator at {self.path}: {e.strerror}") from None
            s.sendall(encode({"op": op, **args}))
            with s.makefile("rb") as f:
                line = f.readline()
        if not line:
            raise ControlError(f"the simulator at {self.path} closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "unknown error"))
        return reply

    def counters(self) -> dict[str, Any]:
        return self.request("counters")["counters"]

    def set(self, addresses: list[str] | None = None, **knobs: Any) -> int:
        """Change behaviour knobs (or ``username``/``password``); None means all BMCs."""
        return self.request("set", addresses=addresses, knobs=knobs)["changed"]

    def power(self, addresses: list[str], state: str) -> int:
        """Change host power out of band, as someone at the machine would."""
        return self.request("power", addresses=addresses, state=state)["changed"]

    def status_reads(self, since: float, until: float | None = None) -> dict[str, Any]:
        """How many BMCs answered Get Chassis Status between two wall-clock times.

        ``{"polled", "reads", "missed_count", "missed": first BMC keys never read}``.
        """
        reply = self.request("status_reads", since=since, until=until)
        return {k: reply[k] for k in ("polled", "reads", "missed", "missed_count")}

    def slots(self, addresses: list[str] | None = None, reset: bool = False,
              drop: bool = False) -> dict[str, Any]:
        """Session slots held per BMC: high-water marks since the last reset.

        ``{"bmcs", "max", "max_active", "peaks", "active_peaks", "held", "held_max",
        "no_slot", "dropped"}``: ``max`` counts every session in a BMC's table (half-open
        handshakes hold a slot on real BMCs too), ``max_active`` established ones only;
        ``peaks`` maps a peak ("0", "1", "2", ...) to how many BMCs reached it; ``held``
        is the sessions held now (all BMCs), ``held_max`` the most on one; ``no_slot``
        Open Sessions refused for want of a slot since the last reset (every BMC of the
        worker processes asked, even with ``addresses``). Figures are read before
        ``drop`` (forget every session, as an idle timeout would) and ``reset``
        (new marks start from the sessions held now). None means all BMCs.
        """
        reply = self.request("slots", addresses=addresses, reset=reset, drop=drop)
        reply.pop("ok")
        return reply

    def requesters(self, addresses: list[str] | None = None, reset: bool = False,
                   detail: bool = True) -> dict[str, Any]:
        """Who asked which BMC, by the client's source address, and who holds its sessions.

        ``{"now", "bmcs", "sources", "held_max", "shared_now", "sources_peak", "requesters"}``:
        ``requesters`` maps a BMC key to ``sources`` ({source address: ``logins`` (sessions
        activated), ``status_reads`` (Get Chassis Status), ``last_status`` (time of the
        latest, or None)}, counted since the last reset), ``held`` ({source address: session
        slots held now, half-open handshakes included}), ``sessions`` (each held one:
        ``source``, ``port``, ``state`` "active" or "handshake", ``opened``, ``last_seen``)
        and ``sources_peak`` (most source addresses holding active sessions at once since
        the last reset). Without ``addresses`` it lists only BMCs someone asked or holds;
        ``detail=False`` leaves it out. Top-level ``sources`` totals per source address
        (``bmcs``, ``logins``, ``status_reads``, ``last_status``, ``held``, ``bmcs_held``);
        ``held_max`` is the most slots one BMC holds now, ``shared_now`` the BMCs whose active
        sessions come from more than one source now. Times are the simulator host's
        ``time.monotonic()`` (``now`` is the time of the reply), comparable with the caller's
        on the same machine. ``reset`` clears the counts after reading them. None: all BMCs.
        """
        reply = self.request("requesters", addresses=addresses, reset=reset, detail=detail)
        reply.pop("ok")
        return reply

    def reboot(self, addresses: list[str] | None, downtime: float = 0.0) -> int:
        """Reboot BMCs: all their sessions vanish; silent for ``downtime`` s."""
        return self.request("reboot", addresses=addresses, downtime=downtime)["changed"]

    def state(self, address: str) -> dict[str, Any]:
        """One BMC: ``power``, boot flags, ``sessions``, ``power_actions`` (counts), ``power_log``
        (``[time, action]`` of its accepted Chassis Control requests, oldest first) and
        ``out_of_band_at`` (time of the latest ``power`` op, or None); times are wall-clock."""
        return self.request("state", address=address)["state"]

    def stop(self) -> dict[str, Any]:
        return self.request("stop")["counters"]
