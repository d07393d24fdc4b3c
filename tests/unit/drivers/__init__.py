"""Tests of the native-ipmi hardware type, driven through Ironic's own fixtures.

Nodes live in Ironic's test database and are used through
``task_manager.acquire`` as the conductor uses them; BMCs are the project's
simulator over real UDP on loopback. ``NativeIPMITestCase`` starts one fleet
per test class (each class names its own 127.4X.0.0/16) and hands every test
fresh BMCs, so no test sees another's power or boot state.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import random
from typing import Any, ClassVar

from ironic.drivers.modules import ipmitool
from ironic.tests.unit.db import base as db_base
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

# Imported now, not inside a test: registers [native_ipmi] on Ironic's CONF, and
# the first import of ironic.drivers.generic runs `ldconfig -p` (zeroconf's
# ifaddr -> ctypes.util.find_library), which Ironic's TestCase forbids.
from ironic_scale.drivers import hardware_type  # noqa: F401
from ironic_scale.sim.inventory import Endpoint
from ironic_scale.sim.launcher import RunningFleet, start_fleet


class NativeIPMITestCase(db_base.DbTestCase):
    """Ironic DB test case with native-ipmi enabled and, optionally, a simulated fleet."""

    ADDRESS_PREFIX: ClassVar[str | None] = None  # "127.4X": start a fleet in that /16
    FLEET_SIZE: ClassVar[int] = 24
    FLEET_ARGS: ClassVar[tuple[str, ...]] = ()
    fleet: ClassVar[RunningFleet | None] = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.fleet = None
        if cls.ADDRESS_PREFIX:
            first = f"{cls.ADDRESS_PREFIX}.{random.randint(0, 250)}.1"
            cls.fleet = start_fleet(cls.FLEET_SIZE, ("--address", first, *cls.FLEET_ARGS))
            cls.addClassCleanup(cls.fleet.stop)
            cls._unused = list(cls.fleet.endpoints)

    def setUp(self) -> None:
        super().setUp()
        # What ipmitool's interface constructors would learn by running the
        # binary, given up front: the ipmitool interfaces load without a process.
        for name, value in (("TIMING_SUPPORT", True), ("SINGLE_BRIDGE_SUPPORT", True),
                            ("DUAL_BRIDGE_SUPPORT", True)):
            self.patch(ipmitool, name, value)
        self.config(enabled_hardware_types=["native-ipmi"],
                    enabled_power_interfaces=["native-ipmi", "ipmitool"],
                    enabled_management_interfaces=["native-ipmi", "ipmitool"])
        self.config(command_timeout=5.0, group="native_ipmi")

    def _clear_attrs(self) -> None:
        # Ironic's TestCase deletes every public attribute after a test (to
        # free memory under stestr); under pytest that includes the bound test
        # method pytest set on the instance and deletes itself afterwards.
        pass

    # -- helpers --------------------------------------------------------------------

    def bmc(self) -> Endpoint:
        """A simulated BMC no other test of this class uses."""
        return self._unused.pop()

    @staticmethod
    def driver_info(bmc: Endpoint, **extra: Any) -> dict[str, Any]:
        """The ipmi_* driver_info an operator would set for ``bmc``."""
        info = {"ipmi_address": bmc.address, "ipmi_port": bmc.port,
                "ipmi_username": bmc.username, "ipmi_password": bmc.password}
        info.update(extra)
        return {k: v for k, v in info.items() if v is not None}

    def create_node(self, bmc: Endpoint | None = None, driver_info: dict | None = None,
                    **kw: Any) -> Any:
        """A node of hardware type native-ipmi using the native power and management."""
        if driver_info is None:
            driver_info = self.driver_info(bmc)
        kw.setdefault("uuid", uuidutils.generate_uuid())
        kw.setdefault("driver", "native-ipmi")
        kw.setdefault("power_interface", "native-ipmi")
        kw.setdefault("management_interface", "native-ipmi")
        return obj_utils.create_test_node(self.context, driver_info=driver_info, **kw)

    def bmc_state(self, bmc: Endpoint) -> dict[str, Any]:
        return self.fleet.control.state(bmc.key)
