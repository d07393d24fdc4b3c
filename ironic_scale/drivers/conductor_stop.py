"""Log out of every BMC session when the conductor stops gracefully.

A conductor that stops (SIGTERM from systemd, a drain with SIGUSR2, a stop
without deregistering after SIGUSR1) must not leave its sessions holding BMC
slots until they expire: the node's new owner needs a slot on the same BMC, and
BMCs have only 4-15. Nothing Ironic 39 does on stop reaches a driver, and the
process does not end in a way Python notices. What a probe in a real
ironic-conductor worker showed (2 conductors on PostgreSQL, SIGTERM to one's
master process, as systemd sends it):

- cotyledon's worker ends with ``os._exit`` after ``RPCService.stop``
  (``_service_terminate`` under ``_utils.exit_on_exception``): neither ``atexit``
  nor ``threading._register_atexit`` callbacks run (checked: neither ran).
- The hardware interfaces are created in ``init_host``, in cotyledon's
  ``_service_run`` thread, not the main thread: ``signal.signal`` raises there,
  and cotyledon's worker had already installed its SIGTERM handler (it only
  wakes the main thread's select loop). There is no handler to chain.
- ``RPCService.stop`` -> ``del_host`` calls no driver; its only driver-visible
  effects are the stopped periodic tasks and executors. Watching the conductor's
  row in the database (deregistration) would cost a query per poll, and after
  SIGUSR1 the row is not removed at all.
- ``del_host`` begins with ``self._shutdown.set()``: a ``threading.Event`` of
  the conductor manager, set on every graceful stop (plain, drain, no-deregister)
  before the power sync and the worker pools are stopped.

So we wait on that event. We get the manager the way Ironic hands it to
drivers: it calls a hardware interface's periodic task with ``(manager, context)``;
ours runs once at start-up and starts one daemon thread that waits (no polling).
When the event is set the engine releases its sessions: all idle ones are logged
out at once, and from then on every session right after its last answer, so the
power syncs, actions and synchronous RPC calls that still finish during the stop
work (logging in again if they must) and none leaves a slot behind when the
process exits (tests/integration/test_conductor_stop.py). The event is set just before the
conductor deregisters, so the idle sessions are logged out well before the node's next
owner (which refreshes its hash ring every hash_ring_reset_interval) polls the BMC.
Nothing of Ironic is patched or wrapped; reading its ``_shutdown`` is the one private
thing we rely on: if a later Ironic drops it, we warn once at start-up, and sessions are then
given back only by the BMC's own session inactivity timeout (often 30-60 s) once the
keepalives stop, as after a crash, SIGKILL or SIGINT (cotyledon's fast exit), when
nothing can log out.
"""

from __future__ import annotations

import threading
from typing import Any

from ironic.conductor import periodics
from oslo_log import log as logging

from ironic_scale.drivers import common

LOG = logging.getLogger(__name__)

# The periodic task only needs its first run (run_immediately); later runs find the
# manager watched already and return at once.
CHECK_SPACING = 600

_lock = threading.Lock()
_watched: set[int] = set()  # id() of the managers whose stop we wait for
_warned = False


def watch(manager: Any) -> bool:
    """Log out of every BMC session when ``manager`` (a ConductorManager) begins to stop.

    Idempotent per manager. Returns False (after one warning) when this Ironic's manager
    has no stop event to wait on.
    """
    global _warned
    event = getattr(manager, "_shutdown", None)
    if not isinstance(event, threading.Event):
        if not _warned:
            _warned = True
            LOG.warning("native-ipmi cannot see when this conductor stops (its manager has no "
                        "_shutdown event): on a graceful stop BMC sessions are not logged out "
                        "and hold their BMC slots until the BMCs expire them.")
        return False
    with _lock:
        if id(manager) in _watched:
            return True
        _watched.add(id(manager))
    # A conductor (re)starting in this process: sessions are kept warm again.
    common.engine().keep_sessions()
    threading.Thread(target=_release_on_stop, args=(manager, event), daemon=True,
                     name="native-ipmi-stop-watch").start()
    return True


def _release_on_stop(manager: Any, event: threading.Event) -> None:
    event.wait()
    with _lock:
        _watched.discard(id(manager))
    LOG.info("Conductor %s is stopping: logging out of its BMC sessions; from now on each "
             "session is logged out as soon as its command is answered.",
             getattr(manager, "host", "?"))
    common.engine().release_sessions()


class LogsOutOnConductorStop:
    """Mixin of the native-ipmi interfaces: Ironic collects this periodic task from every
    enabled interface and calls it with the conductor manager."""

    @periodics.periodic(spacing=CHECK_SPACING, run_immediately=True)
    def _log_out_on_conductor_stop(self, manager: Any, context: Any) -> None:
        watch(manager)
