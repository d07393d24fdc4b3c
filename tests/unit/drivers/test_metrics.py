"""native-ipmi's metrics reach a real statsd listener, through Ironic's own metrics_utils.

A conductor-shaped run: Ironic's CONF with ``[metrics]backend = statsd`` pointing at a UDP
socket on loopback, the native-ipmi interfaces driven through Ironic tasks against simulated
BMCs (healthy ones, a dead one, a wrong password, a refused command), and the datagrams the
listener receives are what is checked. Nothing is mocked.
"""

from __future__ import annotations

import socket
import time
from collections import defaultdict

from ironic.common import exception
from ironic.conductor import task_manager

from ironic_scale.drivers import common, metrics
from tests.unit.drivers import NativeIPMITestCase

SENTINEL = b"test.sentinel:1|c"
DEADLINE = 10.0  # seconds to wait for the datagrams already sent (loopback: at once)


class StatsdListener:
    """A statsd server's receiving end: datagrams parsed into (name, value, type)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.address, self.port = self.sock.getsockname()

    def drain_until_sentinel(self) -> list[tuple[str, float, str]]:
        """Everything received before our own sentinel, sent after the last report."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(SENTINEL, (self.address, self.port))
        received, end = [], time.monotonic() + DEADLINE
        while True:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            data = self.sock.recv(4096)
            if data == SENTINEL:
                return received
            name, rest = data.decode().split(":", 1)
            value, kind = rest.split("|", 1)
            received.append((name, float(value), kind))

    def close(self) -> None:
        self.sock.close()


class StatsdMetricsTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.151"
    FLEET_SIZE = 8
    PREFIX = "ironic.example.conductor-1.ironic_scale.native_ipmi"  # prepend_host_reverse

    def setUp(self) -> None:
        super().setUp()
        # The engine is the process's, configured by whichever test used it first: give
        # the dead BMC time for two retransmissions at its retry interval.
        retry = common.engine().config.retry_interval
        self.config(command_timeout=2.5 * retry, metrics_interval=0.0, group="native_ipmi")
        # What happened before this test (other tests share the engine) is reported now,
        # to nobody: the noop backend.
        metrics.REPORTER.report(common.engine())
        self.listener = StatsdListener("127.151.255.1")
        self.addCleanup(self.listener.close)
        self.config(backend="statsd", global_prefix="ironic", prepend_host=True,
                    prepend_host_reverse=True, group="metrics")
        self.config(host="conductor-1.example")
        self.config(statsd_host=self.listener.address, statsd_port=self.listener.port,
                    group="metrics_statsd")

    def _power(self, node) -> str:
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            return task.driver.power.get_power_state(task)

    def test_counters_gauge_and_timer_arrive_by_cause(self) -> None:
        healthy = [self.create_node(self.bmc()) for _ in range(3)]
        for node in healthy:
            self._power(node)
        dead = self.create_node(driver_info={"ipmi_address": "127.151.254.254",
                                             "ipmi_username": "admin", "ipmi_password": "x"})
        wrong = self.create_node(driver_info=self.driver_info(self.bmc(), ipmi_password="nope"))
        for node in (dead, wrong):
            self.assertRaises(exception.IPMIFailure, self._power, node)
        off = self.create_node(self.bmc())
        with task_manager.acquire(self.context, off.uuid) as task:  # NMI to a host that is off
            self.assertRaises(exception.IPMIFailure, task.driver.management.inject_nmi, task)

        received = self.listener.drain_until_sentinel()
        totals: dict[str, float] = defaultdict(float)
        kinds: dict[str, set[str]] = defaultdict(set)
        last: dict[str, float] = {}
        for name, value, kind in received:
            self.assertTrue(name.startswith(self.PREFIX + "."), name)  # Ironic's prefixing
            short = name[len(self.PREFIX) + 1:]
            totals[short] += value
            kinds[short].add(kind)
            last[short] = value
        self.assertEqual(5, totals["polls"])  # 3 healthy, the dead and the refused one
        self.assertEqual(1, totals["failures.timeout"])
        self.assertEqual(1, totals["failures.login"])
        self.assertEqual(1, totals["failures.completion_code"])  # 0xD5: host off
        self.assertEqual(0, totals["failures.other"])
        self.assertGreaterEqual(totals["logins"], 4)  # three healthy BMCs and the NMI one
        for key in ("relogins", "retransmits", "keepalives"):
            self.assertIn(key, totals)
        self.assertGreaterEqual(totals["retransmits"], 1)  # the dead BMC was asked again
        for key in ("polls", "failures.timeout", "logins", "retransmits"):
            self.assertEqual({"c"}, kinds[key], key)
        self.assertEqual({"g"}, kinds["sessions"])
        self.assertGreaterEqual(last["sessions"], 4)
        self.assertEqual({"ms"}, kinds["bmc_round_trip"])
        self.assertGreater(totals["bmc_round_trip"], 0)

    def test_noop_backend_sends_nothing(self) -> None:
        self.config(backend="noop", group="metrics")
        self._power(self.create_node(self.bmc()))
        self.assertEqual([], self.listener.drain_until_sentinel())
