"""Checks on a conductor's life cycle: stopping in time, heartbeats, pinned RPC versions."""

from __future__ import annotations

import math
from collections import defaultdict

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import Fleet, fail, labels, ok, plural, warn
from ironic_scale.sharding.confload import Service
from ironic_scale.sharding.names import DEFAULT_JSON_RPC_PORT, uses_groups, uses_port_suffix

HEARTBEAT_MARGIN = 3  # heartbeat_timeout >= 3 x heartbeat_interval; cleanup >= 3 x timeout


def stop_timeout(fleet: Fleet) -> list[Result]:
    """FAIL when TimeoutStopSec < hash_ring_reset_interval + graceful_shutdown_timeout.

    On SIGTERM a conductor deregisters, keeps serving RPC for hash_ring_reset_interval
    while other processes' rings expire, then waits up to graceful_shutdown_timeout for its
    reservations (rpc_service.py:74-136; 0 = no limit, rpc_service.py:144-154). The
    reservation deadline counts from the start of the stop, so the sum is the safe bound
    (the executor shutdown in del_host adds to it). SIGKILL before that leaves locks behind
    (Debian ships TimeoutStopSec=15).
    """
    limit = fleet.stop_timeout
    short: dict[tuple[int, int], list[Service]] = defaultdict(list)
    for c in fleet.conductors:
        ring, grace = c.conf.hash_ring_reset_interval, c.conf.conductor.graceful_shutdown_timeout
        need = math.inf if grace == 0 else ring + grace
        if limit.seconds < need:
            short[(ring, grace)].append(c)
    out = []
    for (ring, grace), members in sorted(short.items()):
        wanted = ("infinity (graceful_shutdown_timeout 0 waits for every reservation)" if grace == 0
                  else f"{ring + grace} s = hash_ring_reset_interval {ring} + graceful_shutdown_timeout "
                       f"{grace}")
        out.append(fail(f"{limit.describe()} < {wanted} of {labels(members)}: systemd kills a stopping "
                        "conductor while it still holds node locks; raise TimeoutStopSec"))
    if out:
        return out
    note = "" if fleet.units_given else " (no --unit given: systemd's default assumed)"
    return ok(f"{limit.describe()} covers every conductor's ring wait and graceful shutdown{note}")


def heartbeat_timeout(fleet: Fleet) -> list[Result]:
    """WARN when heartbeat_timeout < 3 x heartbeat_interval, or cleanup timeout < 3 x heartbeat_timeout.

    Every reader judges liveness with its own heartbeat_timeout against the writers'
    updated_at (db/sqlalchemy/api.py:425-436); a conductor that misses two beats under load
    drops off every ring (bug 1970484). conf/conductor.py:422-431 asks cleanup >= 3x timeout.
    """
    intervals = [c.conf.conductor.heartbeat_interval for c in fleet.conductors]
    out = []
    for s in fleet.services:
        interval = max(intervals or [s.conf.conductor.heartbeat_interval])
        timeout = s.conf.conductor.heartbeat_timeout
        if timeout < HEARTBEAT_MARGIN * interval:
            out.append(warn(f"{s.label}: heartbeat_timeout {timeout} s < {HEARTBEAT_MARGIN} x "
                            "heartbeat_interval "
                            f"{interval} s: a conductor that misses {HEARTBEAT_MARGIN - 1} beats looks dead "
                            "and its nodes move"))
    for c in fleet.conductors:
        cleanup, timeout = c.conf.conductor.conductor_cleanup_timeout, c.conf.conductor.heartbeat_timeout
        if cleanup < HEARTBEAT_MARGIN * timeout:
            out.append(warn(f"{c.label}: conductor_cleanup_timeout {cleanup} s < {HEARTBEAT_MARGIN} x "
                            f"heartbeat_timeout {timeout} s: live conductors' rows can be deleted"))
    return out or ok(f"heartbeat_timeout >= {HEARTBEAT_MARGIN} x heartbeat_interval in "
                     f"{plural(len(fleet.services), 'service')}")


def pin_release_version(fleet: Fleet) -> list[Result]:
    """WARN when pin_release_version is set: names and ring keys follow the pinned RPC version.

    Below RPC 1.58 json-rpc names get no ``:port``, below 1.47 rings are keyed by hardware
    type only (base_manager.py:335-348), so names and placement change when the pin is lifted.
    """
    pinned = [s for s in fleet.services if s.conf.pin_release_version]
    if not pinned:
        return ok("no service sets pin_release_version")
    out = []
    for s in pinned:
        pin = s.conf.pin_release_version
        effects = []
        if (s.json_rpc and s.json_rpc_port != DEFAULT_JSON_RPC_PORT
                and not uses_port_suffix(s.rpc_transport, s.json_rpc_port, pin)):
            effects.append("json-rpc names lose their ':port'")
        if not uses_groups(pin):
            effects.append("rings ignore conductor groups")
        what = (f"{' and '.join(effects)} until the pin is removed, which then renames conductors or "
                "moves nodes" if effects
                else "names and ring keys are as unpinned; remove the pin after the upgrade")
        out.append(warn(f"{s.label} sets pin_release_version {pin}: {what}"))
    return out
