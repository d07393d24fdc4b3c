"""One ``get_power_state(task)`` through Ironic's power interfaces, on the same BMC.

Ironic's ``ipmitool`` power interface (it forks ipmitool, as Ironic 39 does)
against native-ipmi's, both given a real task: a node in Ironic's test
database, acquired with ``task_manager.acquire`` as the power sync does
(acquiring is Ironic's own cost, paid either way: done once, untimed). The
summary prints both CPU figures and their ratio.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import pytest
from ironic.common import states
from ironic.conductor import task_manager
from ironic.drivers.modules import ipmitool

from tests.unit.drivers import NativeIPMITestCase


class _Case(NativeIPMITestCase):
    """Ironic's DB fixtures with forks allowed (ipmitool must run); BMCs: the session fleet."""

    block_execute = False

    def runTest(self) -> None:  # unittest wants one to construct the case
        pass


@pytest.fixture(scope="module")
def ironic_db():
    _Case.setUpClass()
    case = _Case("runTest")
    case.setUp()
    yield case
    case.doCleanups()
    _Case.tearDownClass()
    _Case.doClassCleanups()


@pytest.fixture(scope="module")
def task(ironic_db, fleet):
    node = ironic_db.create_node(fleet.endpoints[-1])
    with task_manager.acquire(ironic_db.context, node.uuid, shared=True) as task:
        yield task


def test_ipmitool_interface_get_power_state(measure, task):
    power = ipmitool.IPMIPower()

    def poll() -> None:
        # Ironic sleeps until [ipmi]min_command_interval (5 s) has passed since the
        # last command to this BMC; a sleep costs no CPU, so skip it, not the fork.
        ipmitool.LAST_CMD_TIME.clear()
        assert power.get_power_state(task) == states.POWER_OFF

    measure("ipmitool-iface", poll, rounds=40)


def test_native_interface_get_power_state(measure, task):
    power = task.driver.power
    assert type(power).__name__ == "NativeIPMIPower"
    assert power.get_power_state(task) == states.POWER_OFF  # log in before the clock starts

    def poll() -> None:
        assert power.get_power_state(task) == states.POWER_OFF

    measure("native-iface", poll, rounds=4000)
