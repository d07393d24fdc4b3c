"""native-ipmi's counters through Ironic's own metrics (``ironic.common.metrics_utils``).

So ``[metrics]backend = statsd`` (with ``[metrics_statsd]statsd_host/statsd_port``) carries them
exactly like Ironic's own metrics, under the same ``[metrics]global_prefix`` and, with
``[metrics]prepend_host``, ``[DEFAULT]host``.
With Ironic's default ``noop`` backend nothing is sent. Names (below those prefixes):

- ``ironic_scale.native_ipmi.polls`` (counter): power-state reads, one per node, single or bulk
- ``ironic_scale.native_ipmi.failures.<cause>`` (counter): failed BMC commands by cause,
  ``timeout``, ``login`` (session refused: password, slots, cipher suite), ``completion_code``
  (the BMC refused the command) or ``other``
- ``...logins``, ``...relogins``, ``...retransmits`` (requests and login steps sent again),
  ``...keepalives`` (counters): the engine's
- ``...sessions`` (gauge): BMC sessions the engine holds now
- ``...bmc_round_trip`` (timer, ms): mean BMC round trip (request to answer, from the last
  transmission) since the previous report

Counters are reported as their increase since the previous report, every
``[native_ipmi]metrics_interval`` seconds, by whichever command or bulk read ends after the
interval: no thread of its own, and an idle conductor sends nothing. Per poll the cost is one
uncontended lock to count and a clock read to compare; the engine's figures are read once per
report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from ironic.common import metrics_utils
from ironic.conf import CONF
from oslo_log import log as logging

from ironic_scale.ipmi import errors

LOG = logging.getLogger(__name__)

PREFIX = "ironic_scale.native_ipmi"
# Metric -> the engine counters it sums (a retransmission of a login step is one too).
ENGINE_COUNTERS = {"logins": ("logins",), "relogins": ("relogins",),
                   "retransmits": ("retransmits", "handshake_retransmits"),
                   "keepalives": ("keepalives",)}
CAUSES = ("timeout", "login", "completion_code", "other")


def cause(error: BaseException) -> str:
    """The failure cause a metric name carries: a small fixed set, never free text."""
    if isinstance(error, (errors.BMCTimeout, TimeoutError)):
        return "timeout"
    if isinstance(error, errors.LoginFailed):
        return "login"
    if isinstance(error, errors.CommandFailed):
        return "completion_code"
    return "other"


class Reporter:
    """Counts polls and failures, and reports them with the engine's figures now and then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # counts and the previous engine snapshot
        self._report = threading.Lock()  # one report at a time; others skip, never wait
        self._counts: Counter = Counter()
        self._engine_before: dict[str, int] = {}
        self._next = 0.0

    def polled(self, nodes: int = 1) -> None:
        with self._lock:
            self._counts["polls"] += nodes

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._counts["failures." + cause(error)] += 1

    def maybe_report(self, engine: Any) -> None:
        """Report if ``[native_ipmi]metrics_interval`` has passed since the last report."""
        now = time.monotonic()
        if now < self._next or not self._report.acquire(blocking=False):
            return
        try:
            self._next = now + CONF.native_ipmi.metrics_interval
            if CONF.metrics.backend != "noop":
                self.report(engine)
        except Exception as e:  # noqa: BLE001 - a metric must never fail a power poll
            LOG.warning("native-ipmi: could not report metrics: %s", e)
        finally:
            self._report.release()

    def report(self, engine: Any) -> None:
        """Send every figure now through Ironic's metric logger; the next report is due
        ``[native_ipmi]metrics_interval`` from now."""
        self._next = time.monotonic() + CONF.native_ipmi.metrics_interval
        stats = engine.stats()
        with self._lock:
            counts, self._counts = self._counts, Counter()
            before, self._engine_before = self._engine_before, dict(stats)
        # host: so [metrics]prepend_host (and _reverse) apply, as the option says.
        logger = metrics_utils.get_metrics_logger(PREFIX, host=CONF.host)
        name = logger.get_metric_name
        logger.send_counter(name("polls"), counts["polls"])
        for c in CAUSES:
            logger.send_counter(name(f"failures.{c}"), counts[f"failures.{c}"])
        for metric, keys in ENGINE_COUNTERS.items():
            increase = sum(stats.get(k, 0) - before.get(k, 0) for k in keys)
            logger.send_counter(name(metric), max(0, increase))
        logger.send_gauge(name("sessions"), stats.get("sessions", 0))
        answers = stats.get("answers", 0) - before.get("answers", 0)
        if answers > 0:
            rtt_us = stats.get("rtt_us_total", 0) - before.get("rtt_us_total", 0)
            logger.send_timer(name("bmc_round_trip"), round(rtt_us / answers / 1000.0, 3))


REPORTER = Reporter()
