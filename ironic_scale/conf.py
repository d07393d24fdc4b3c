"""Options of the native IPMI driver, group ``[native_ipmi]`` of ironic.conf.

Kept apart from Ironic's ``[ipmi]`` group on purpose: those options describe
ipmitool processes (retries by re-spawning, a throttle keyed by IP), these
describe one long-lived engine with persistent sessions.
"""

from __future__ import annotations

from oslo_config import cfg

from ironic_scale.ipmi.engine import EngineConfig, check_source_address

GROUP = "native_ipmi"

OPTS = [
    cfg.IntOpt("session_cache_size", default=30000, min=1,
               help="Most BMC sessions (a count) kept logged in at once. Beyond this the least "
                    "recently used idle sessions are logged out, and log in again when next "
                    "needed. Set it above the number of nodes this conductor manages. Raising it "
                    "costs a few kilobytes of conductor memory per extra session and holds one "
                    "more BMC session slot per extra BMC; lowering it below the nodes this "
                    "conductor polls makes every poll of an evicted node log in again (four "
                    "more round trips, and several times the CPU of a warm poll)."),
    cfg.FloatOpt("command_timeout", default=10.0, min=0.1,
                 help="Seconds one BMC command may take in total, including retransmissions "
                      "and a login or re-login. A dead or unreachable BMC fails after this "
                      "long with an IPMIFailure. Raising it lets slow BMCs and lossy networks "
                      "answer, but a dead BMC then holds a conductor worker (and the power "
                      "sync's bulk read) this much longer; lowering it fails slow BMCs that "
                      "would have answered."),
    cfg.FloatOpt("retry_interval", default=1.0, min=0.05,
                 help="Seconds without an answer before a request (or a login step) is sent "
                      "again, until command_timeout. Lowering it recovers from a lost packet "
                      "sooner but sends duplicate requests to BMCs that are merely slow (more "
                      "traffic, and more work for busy BMC firmware); raising it makes every "
                      "lost packet cost this much more wall time."),
    cfg.BoolOpt("keepalive", default=True,
                help="Keep idle sessions alive with a Get Device ID once a session has been idle "
                     "for keepalive_interval seconds, so BMCs do not expire them and the next "
                     "poll needs no login. Sessions polled more often than that get none. True "
                     "costs one request per idle session per interval; False lets BMCs expire "
                     "idle sessions, and the next command logs in again (four more round trips)."),
    cfg.FloatOpt("keepalive_interval", default=25.0, min=1.0,
                 help="Idle seconds before a session gets a keepalive. Keep it below the BMCs' "
                      "session inactivity timeout (often 30-60 s). Raising it sends fewer "
                      "keepalives (less conductor CPU and BMC traffic for idle nodes) but past "
                      "the BMC's timeout its sessions expire and the next command logs in "
                      "again; lowering it sends more keepalives for no gain."),
    cfg.FloatOpt("idle_timeout", default=None, min=1.0,
                 help="Seconds a BMC session may go unused by any command for its node (keepalives "
                      "do not count) before it is logged out, giving the BMC's session slot back "
                      "(BMCs have only 4-15). Unset (the default): 2.5 x [conductor]"
                      "sync_power_state_interval, at least 60 s (600 s with the power sync "
                      "disabled). Every node this conductor polls is used once a cycle and keeps "
                      "its session; a node it no longer polls (moved to another conductor by the "
                      "hash ring, or no longer synced) gives its slot back, and stops getting "
                      "keepalives, within two and a half cycles, so a fleet of several conductors "
                      "holds one slot per BMC. Lowering it gives slots back sooner, but a node "
                      "left alone this long logs in again on its next command (four more round "
                      "trips). Raising it is right when sync cycles take longer than the interval (sessions "
                      "then expire between polls and every poll logs in again: watch the engine's "
                      "relogin count), or to keep warm sessions for nodes that are not polled "
                      "(sync disabled); the cost is BMC slots held longer."),
    cfg.IntOpt("pool_size", default=8, min=1,
               help="Threads (a count) of the bulk power poller that reads many BMCs at once "
                    "(Ironic's power sync with [conductor]bulk_power_sync, from the ironic-scale "
                    "patch series). Each keeps 64 requests in flight. Raising it lets more dead "
                    "BMCs be waited for at once, at the cost of more threads contending for the "
                    "GIL (no gain for live BMCs beyond a few); lowering it makes a sweep with "
                    "many dead BMCs take longer."),
    cfg.FloatOpt("min_command_interval", default=0.0, min=0.0,
                 help="Minimum seconds between the starts of two commands to the same BMC, for "
                      "BMCs that fail when commands arrive back to back. 0 (the default) sends as "
                      "soon as the previous answer arrived (one command per BMC is in flight at a "
                      "time anyway). Raising it slows every multi-command action (a boot device "
                      "change is two commands, a power action several) by this much per command; "
                      "lowering it back towards 0 makes BMCs that need the gap fail those "
                      "commands again (usually with a completion code such as 0xC0, node busy)."),
    cfg.IntOpt("sockets", default=4, min=1, max=256,
               help="UDP sockets (a count) the engine spreads all BMC sessions over. A few are "
                    "enough for tens of thousands of BMCs. Raising it costs file descriptors "
                    "and up to 8 MiB of kernel receive buffer each (net.core.rmem_max caps it), "
                    "for no gain beyond a few; lowering "
                    "it to 1 puts every answer of a sweep's burst into one receive buffer, which "
                    "can overflow (lost answers are retransmitted after retry_interval)."),
    cfg.FloatOpt("metrics_interval", default=10.0, min=0.0,
                 help="Seconds between two reports of native-ipmi's counters (polls, failures "
                      "by cause, logins, re-logins, retransmits, keepalives, live sessions, BMC "
                      "round trip) through Ironic's metrics ([metrics]backend; nothing is sent "
                      "with the default noop backend). A report is made by the first command "
                      "that ends after the interval, so an idle conductor sends none. Raising it "
                      "sends fewer statsd packets (eleven per report) but makes graphs coarser; "
                      "lowering it costs one read of the engine's figures (a hand-off to its IO "
                      "thread) per report; 0 reports after every command."),
    cfg.StrOpt("source_address", default=None,
               help="Local IP address this conductor sends its IPMI traffic from: the engine's "
                    "UDP sockets bind to it (port 0). Give each conductor of a host its own "
                    "address, so BMCs, firewalls and the ironic-scale simulator can tell which "
                    "conductor polls which node. Unset (the default): the kernel picks the "
                    "address by route. It applies to BMCs of its own family: an IPv4 address "
                    "to BMCs with IPv4 addresses, an IPv6 address to BMCs with IPv6 addresses "
                    "(the kernel picks the source for the other family). It must be a unicast "
                    "address of this host, or the driver fails to load."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register ``[native_ipmi]`` on ``conf`` (idempotent)."""
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator (``oslo.config.opts``: ``ironic_scale``)."""
    return [(GROUP, OPTS)]


def source_address(conf: cfg.ConfigOpts) -> str | None:
    """``[native_ipmi]source_address`` checked and canonical, or None when unset.

    :raises: ValueError naming the option, with the reason (not an IP address,
        not unicast, not an address of this host).
    """
    value = conf[GROUP].source_address
    try:
        return check_source_address(value)
    except ValueError as e:
        raise ValueError(f"[{GROUP}]source_address: {e}") from None


# Derived idle timeout: a node polled every cycle is used at least once per interval plus one
# cycle's length (polled first in one cycle, last in the next); 2.5 intervals leave room for a
# cycle that overruns, the floor for short test intervals whose cycles outlast them.
IDLE_CYCLES = 2.5
IDLE_FLOOR = 60.0
IDLE_WITHOUT_SYNC = 600.0  # no power sync: nothing polls, keep warm sessions for actions a while
IRONIC_SYNC_INTERVAL = 120  # Ironic's [conductor]sync_power_state_interval default


def derived_idle_timeout(sync_interval: float) -> float:
    """The idle timeout for a conductor whose power sync runs every ``sync_interval`` s (<= 0: off)."""
    if sync_interval <= 0:
        return IDLE_WITHOUT_SYNC
    return max(IDLE_FLOOR, IDLE_CYCLES * sync_interval)


def sync_interval(conf: cfg.ConfigOpts) -> int:
    """``[conductor]sync_power_state_interval``, or Ironic's default where it is not registered."""
    try:
        return conf.conductor.sync_power_state_interval
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return IRONIC_SYNC_INTERVAL


def idle_timeout(conf: cfg.ConfigOpts) -> float:
    """``[native_ipmi]idle_timeout`` when the operator set it, else derived from the power sync."""
    value = conf[GROUP].idle_timeout
    return value if value is not None else derived_idle_timeout(sync_interval(conf))


def engine_config(conf: cfg.ConfigOpts) -> EngineConfig:
    """The engine's settings from ``[native_ipmi]``; keepalive=False disables keepalives.

    :raises: ValueError for an unusable ``source_address``.
    """
    group = conf[GROUP]
    return EngineConfig(
        sockets=group.sockets,
        retry_interval=group.retry_interval,
        keepalive_interval=group.keepalive_interval if group.keepalive else 0.0,
        idle_timeout=idle_timeout(conf),
        max_sessions=group.session_cache_size,
        min_command_interval=group.min_command_interval,
        source_address=source_address(conf),
    )
