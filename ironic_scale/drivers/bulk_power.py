"""Power states of many nodes in one call: native-ipmi's ``get_power_states_bulk``.

Ironic with the project's sync patch series and ``[conductor]bulk_power_sync``
hands every settled node of a sync cycle to this one call. Their BMCs are read
together on the engine (one Get Chassis Status each, every one bounded by
``[native_ipmi]command_timeout``), by a few poller threads rather than a
conductor task per node.

A node whose read fails goes on to Ironic's per-node sync, which reads it
again. So that a dead BMC costs its timeout once per cycle and not twice, the
failure is kept and given, once, to that node's next ``get_power_state``
under a shared lock (the sync's own); power actions hold an exclusive lock
and always read the BMC. Kept failures last until the next bulk read, and
never longer than ``FAILURE_TTL``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from ironic.common import exception, states
from ironic.conf import CONF

from ironic_scale.drivers import common
from ironic_scale.drivers.metrics import REPORTER
from ironic_scale.ipmi import errors
from ironic_scale.ipmi.poller import PowerPoller

FAILURE_TTL = 600.0  # s; a sync cycle that still runs after this reads the BMC again

POLLER_WINDOW = 64  # requests in flight per poller thread ([native_ipmi]pool_size threads)


class _KeptFailures:
    """Failures of the last bulk read, each handed out at most once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[float, Exception]] = {}

    def replace(self, failures: dict[str, Exception]) -> None:
        expires = time.monotonic() + FAILURE_TTL
        with self._lock:
            self._failures = {uuid: (expires, e) for uuid, e in failures.items()}

    def take(self, uuid: str) -> Exception | None:
        with self._lock:
            kept = self._failures.pop(uuid, None)
        if kept is None or kept[0] < time.monotonic():
            return None
        return kept[1]


_KEPT = _KeptFailures()
_poller_lock = threading.Lock()
_poller: tuple[int, PowerPoller] | None = None


def _get_poller() -> PowerPoller:
    """The process's poller; a forked conductor worker makes its own."""
    global _poller
    with _poller_lock:
        if _poller is None or _poller[0] != os.getpid():
            _poller = (os.getpid(), PowerPoller(common.engine(), CONF.native_ipmi.pool_size,
                                                POLLER_WINDOW))
        return _poller[1]


def read_power_states(nodes: Iterable[Any]) -> dict[str, str | Exception]:
    """{node uuid: POWER_ON, POWER_OFF or the exception}, for node records with
    ``uuid`` and ``driver_info``.

    Bad driver_info gives that node its InvalidParameterValue (no BMC
    traffic); a BMC that does not answer or refuses gives IPMIFailure, as
    ``get_power_state`` would raise.
    """
    results: dict[str, str | Exception] = {}
    polled, creds = [], []
    for node in nodes:
        try:
            creds.append(common.credentials(node))
        except exception.IronicException as e:
            results[node.uuid] = e
        else:
            polled.append(node)
    answers = _get_poller().poll(creds, CONF.native_ipmi.command_timeout) if creds else []
    failures: dict[str, Exception] = {}
    for node, cred, answer in zip(polled, creds, answers, strict=True):
        if isinstance(answer, errors.IPMIError):
            failures[node.uuid] = common.ipmi_failure(node, cred, "power status", answer)
            results[node.uuid] = failures[node.uuid]
        else:
            results[node.uuid] = states.POWER_ON if answer else states.POWER_OFF
    _KEPT.replace(failures)
    REPORTER.polled(len(creds))
    REPORTER.maybe_report(common.engine())
    return results


def kept_failure(task: Any) -> Exception | None:
    """The failure the last bulk read saw for this task's node, once, for a shared lock."""
    if not task.shared:
        return None
    return _KEPT.take(task.node.uuid)
