"""``[native_ipmi]source_address``: the driver polls from it (the simulator shows who asked),
and an unusable value stops the interfaces from loading, with the option named."""

import collections

from ironic.common import driver_factory, exception, states
from ironic.conductor import task_manager

from ironic_scale.drivers import bulk_power, common
from ironic_scale.drivers.management import NativeIPMIManagement
from ironic_scale.drivers.power import NativeIPMIPower
from ironic_scale.ipmi import engine as engine_module
from tests.unit.drivers import NativeIPMITestCase

SOURCE = "127.123.252.7"
Record = collections.namedtuple("Record", "uuid driver driver_info driver_internal_info power_state")


class SourceAddressTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.123"
    FLEET_SIZE = 16

    def _fresh_engine(self, source: str | None) -> None:
        """The driver's process-wide engine and bulk poller, made anew from ``source``."""
        self.config(source_address=source, group="native_ipmi")
        self.patch(engine_module, "_ENGINE", None)
        self.patch(bulk_power, "_poller", None)
        self.addCleanup(self._shutdown)  # runs before the patches are undone

    @staticmethod
    def _shutdown() -> None:
        if engine_module._ENGINE is not None:
            engine_module._ENGINE.shutdown()
        if bulk_power._poller is not None:
            bulk_power._poller[1].close()

    def _sources(self, bmc) -> dict[str, tuple[int, int]]:
        entry = self.fleet.control.requesters([bmc.key])["requesters"][bmc.key]
        return {ip: (e["logins"], e["status_reads"]) for ip, e in entry["sources"].items()}

    def _held(self, bmc) -> dict[str, int]:
        return self.fleet.control.requesters([bmc.key])["requesters"][bmc.key]["held"]

    def test_power_state_is_read_from_the_source_address(self):
        self._fresh_engine(SOURCE)
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
        self.assertEqual({SOURCE: (1, 2)}, self._sources(bmc))
        self.assertEqual({SOURCE: 1}, self._held(bmc))
        self.assertEqual(SOURCE, common.engine().config.source_address)

    def test_bulk_read_is_from_the_source_address(self):
        self._fresh_engine("127.123.252.8")
        bmcs = [self.bmc() for _ in range(3)]
        nodes = [self.create_node(b) for b in bmcs]
        result = NativeIPMIPower().get_power_states_bulk(
            self.context, [Record(n.uuid, n.driver, n.driver_info, n.driver_internal_info,
                                  n.power_state) for n in nodes])
        self.assertEqual({n.uuid: states.POWER_OFF for n in nodes}, result)
        for b in bmcs:
            self.assertEqual({"127.123.252.8": (1, 1)}, self._sources(b))

    def test_unset_lets_the_kernel_pick(self):
        self._fresh_engine(None)
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            task.driver.power.get_power_state(task)
        (source,) = self._sources(bmc)
        self.assertFalse(source.startswith("127.123.252."))

    def test_ipv6_source_loads_and_ipv4_bmcs_are_polled_as_without_it(self):
        self._fresh_engine("::1")
        NativeIPMIPower()  # no error: it applies to IPv6 BMCs only
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
        (source,) = self._sources(bmc)
        self.assertNotIn(":", source)

    def test_unusable_source_address_fails_when_the_driver_loads(self):
        hw = driver_factory.get_hardware_type("native-ipmi")
        for bad, reason in (("conductor-1", "not an IPv4 or IPv6 address"),
                            ("127.123.0.300", "not an IPv4 or IPv6 address"),
                            ("192.0.2.1", "cannot be bound on this host"),
                            ("224.0.0.1", "not a unicast address"),
                            ("0.0.0.0", "leave the source address unset")):
            self.config(source_address=bad, group="native_ipmi")
            for cls in (NativeIPMIPower, NativeIPMIManagement):
                e = self.assertRaises(exception.InvalidParameterValue, cls)
                self.assertIn("[native_ipmi]source_address: source address ", str(e))
                self.assertIn(bad, str(e))
                self.assertIn(reason, str(e))
            # As the conductor loads it at start-up: Ironic names the interface.
            for kind in ("power", "management"):
                e = self.assertRaises(exception.DriverLoadError, driver_factory.get_interface,
                                      hw, kind, "native-ipmi")
                self.assertIn("native-ipmi", str(e))
                self.assertIn("[native_ipmi]source_address", str(e))
                self.assertIn(reason, str(e))
