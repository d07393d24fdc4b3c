"""What idle warm sessions cost: memory, keepalives and the engine's once-a-second scan.

25,000 sessions (``--quick``: 500) are logged in, then left idle with a short
keepalive interval (6 s instead of 25 s, so a run takes seconds). Measured:
this process's RSS before the first login and once all are warm (run this file
alone for that figure: other benchmarks leave memory behind); its CPU while no
keepalive is due (the scan alone), then over two intervals of keepalives. The
summary gives CPU per keepalive, scan included and scan taken out, and what
that means per 1,000 sessions at the default 25 s interval. The fleet is in
the /16 after ``--sim-address``'s.
"""

from __future__ import annotations

import ipaddress
import time

from benchmarks.conftest import NOTES, _cpu
from ironic_scale.bench.meter import rss_kib
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine, EngineConfig
from ironic_scale.ipmi.poller import PowerPoller
from ironic_scale.sim.launcher import start_fleet

INTERVAL = 6.0  # longer than a warm sweep of 25,000 (~2 s), far shorter than the default
DEFAULT_INTERVAL = 25.0  # EngineConfig's keepalive_interval


def test_keepalive_cpu_of_idle_sessions(request):
    count = 500 if request.config.getoption("--quick") else 25000
    first = ipaddress.ip_address(request.config.getoption("--sim-address")) + 65536
    fleet = start_fleet(count, ("--address", str(first)))
    engine = Engine(EngineConfig(keepalive_interval=INTERVAL))
    try:
        creds = [BmcCredentials(ep.address, ep.port, ep.username, ep.password) for ep in fleet.endpoints]
        rss0 = rss_kib()
        with PowerPoller(engine) as poller:
            assert all(isinstance(r, bool) for r in poller.poll(creds, 30.0))
            rss1 = rss_kib()
            # Logging 25,000 in takes longer than INTERVAL: one warm sweep more, so every
            # session has fresh traffic from a short span of time.
            t_login = time.monotonic()
            assert all(isinstance(r, bool) for r in poller.poll(creds, 30.0))
        # No keepalive is due before INTERVAL after that sweep: what the scan alone costs.
        time.sleep(0.5)
        c0, t0, k0 = _cpu(), time.monotonic(), engine.stats().get("keepalives", 0)
        time.sleep(max(0.5, t_login + INTERVAL - 0.5 - time.monotonic()))
        c1, t1, k1 = _cpu(), time.monotonic(), engine.stats().get("keepalives", 0)
        time.sleep(2 * INTERVAL)
        c2, t2, k2 = _cpu(), time.monotonic(), engine.stats().get("keepalives", 0)
        stats = engine.stats()
    finally:
        engine.shutdown()
        fleet.stop()
    assert k1 == k0, "keepalives went out before the interval"
    kept = k2 - k1
    assert kept >= count, "not every idle session got a keepalive"
    assert stats.get("logins") == count, "a session was lost while idle"
    scan = (c1 - c0) / (t1 - t0)  # CPU seconds per second, scan only
    per_raw = (c2 - c1) / kept
    per = max(0.0, (c2 - c1) - scan * (t2 - t1)) / kept
    per_1000 = (per * 1000 / DEFAULT_INTERVAL + scan * 1000 / count) * 1e3
    NOTES.extend([
        f"RSS growth from before the first login to {count} warm sessions: "
        f"{(rss1 - rss0) / 1024:.1f} MiB ({(rss1 - rss0) * 1024 / count:.0f} bytes per session)",
        f"keepalives, {count} idle sessions, {INTERVAL:g} s interval: {kept} sent in {t2 - t1:.1f} s; "
        f"CPU per keepalive {per_raw * 1e6:.0f} us (scan included), {per * 1e6:.0f} us (scan taken out)",
        f"  idle scan alone: {scan * 1e3:.1f} ms CPU per second; at the default {DEFAULT_INTERVAL:g} s "
        f"interval: ~{per_1000:.1f} ms CPU per second per 1,000 idle sessions",
    ])
