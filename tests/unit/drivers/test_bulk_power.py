"""native-ipmi's bulk power read, as Ironic's patched power sync calls it, over real UDP."""

import collections

from ironic.common import exception, states
from ironic.conductor import task_manager

from ironic_scale.drivers import bulk_power, power
from tests.unit.drivers import NativeIPMITestCase

# What the patched sync hands the interface: read-only rows, not Node objects.
Record = collections.namedtuple("Record", "uuid driver driver_info driver_internal_info power_state")


class BulkPowerTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.49"
    FLEET_SIZE = 24

    def setUp(self) -> None:
        super().setUp()
        self.config(command_timeout=1.0, group="native_ipmi")
        self.power = power.NativeIPMIPower()

    def _node(self, state: str = "off", **kw):
        bmc = self.bmc()
        if state == "on":
            self.fleet.control.power([bmc.key], "on")
        return bmc, self.create_node(bmc, **kw)

    @staticmethod
    def _record(node) -> Record:
        return Record(node.uuid, node.driver, node.driver_info, node.driver_internal_info,
                      node.power_state)

    def _dead(self, bmc) -> None:
        self.fleet.control.set([bmc.key], dead=True)
        self.addCleanup(self.fleet.control.set, [bmc.key], dead=False)

    def _read(self, node, shared: bool = True) -> str:
        with task_manager.acquire(self.context, node.uuid, shared=shared) as task:
            return task.driver.power.get_power_state(task)

    def test_reads_every_node_in_one_call(self):
        nodes = [self._node(state)[1] for state in ("on", "off", "on", "off")]
        result = self.power.get_power_states_bulk(self.context, [self._record(n) for n in nodes])
        self.assertEqual({n.uuid: s for n, s in zip(nodes, [states.POWER_ON, states.POWER_OFF] * 2,
                                                    strict=True)}, result)

    def test_bad_driver_info_fails_that_node_only(self):
        _, good = self._node("on")
        _, bad = self._node(driver_info={"ipmi_address": "127.0.0.1", "ipmi_port": "not-a-port"})
        result = self.power.get_power_states_bulk(self.context, [self._record(good), self._record(bad)])
        self.assertEqual(states.POWER_ON, result[good.uuid])
        self.assertIsInstance(result[bad.uuid], exception.InvalidParameterValue)
        self.assertIn("ipmi_port", str(result[bad.uuid]))

    def test_dead_bmc_is_ipmi_failure_and_the_others_answer(self):
        dead_bmc, dead = self._node()
        _, alive = self._node("on")
        self._dead(dead_bmc)
        result = self.power.get_power_states_bulk(self.context, [self._record(dead), self._record(alive)])
        self.assertEqual(states.POWER_ON, result[alive.uuid])
        self.assertIsInstance(result[dead.uuid], exception.IPMIFailure)
        self.assertIn(dead.uuid, str(result[dead.uuid]))

    def test_failure_is_given_once_to_the_syncs_shared_read(self):
        bmc, node = self._node()
        self._dead(bmc)
        self.power.get_power_states_bulk(self.context, [self._record(node)])
        # The BMC is back, but the sync's own read in this cycle gets the bulk
        # read's failure instead of waiting for the BMC a second time ...
        self.fleet.control.set([bmc.key], dead=False)
        e = self.assertRaises(exception.IPMIFailure, self._read, node)
        self.assertIn(node.uuid, str(e))
        # ... once: the next read asks the BMC.
        self.assertEqual(states.POWER_OFF, self._read(node))

    def test_power_actions_always_read_the_bmc(self):
        bmc, node = self._node()
        self._dead(bmc)
        self.power.get_power_states_bulk(self.context, [self._record(node)])
        self.fleet.control.set([bmc.key], dead=False)
        self.assertEqual(states.POWER_OFF, self._read(node, shared=False))

    def test_next_bulk_read_replaces_kept_failures(self):
        bmc, node = self._node()
        self._dead(bmc)
        self.power.get_power_states_bulk(self.context, [self._record(node)])
        self.fleet.control.set([bmc.key], dead=False)
        self.assertEqual({node.uuid: states.POWER_OFF},
                         self.power.get_power_states_bulk(self.context, [self._record(node)]))
        self.assertEqual(states.POWER_OFF, self._read(node))

    def test_kept_failure_expires(self):
        bmc, node = self._node()
        self._dead(bmc)
        self.patch(bulk_power, "FAILURE_TTL", -1.0)  # expired as soon as kept
        self.power.get_power_states_bulk(self.context, [self._record(node)])
        self.fleet.control.set([bmc.key], dead=False)
        self.assertEqual(states.POWER_OFF, self._read(node))
