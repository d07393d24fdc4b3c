"""Hardware type ``native-ipmi``: the ``ipmi`` hardware type with native power and management.

Its own class because Ironic checks interface compatibility by exact type:
the ``ipmi`` hardware type would refuse our interfaces. The ipmitool
interfaces stay supported, so a node can switch ``--power-interface ipmitool``
(and back) without changing its driver or driver_info.
"""

from __future__ import annotations

from ironic.drivers import generic
from ironic.drivers.modules import ipmitool, noop

from ironic_scale.drivers.management import NativeIPMIManagement
from ironic_scale.drivers.power import NativeIPMIPower
from ironic_scale.drivers.vendor import NativeIPMIVendorPassthru


class NativeIPMIHardware(generic.GenericHardware):
    """IPMI hardware managed over persistent sessions; ipmitool as the fallback."""

    @property
    def supported_power_interfaces(self) -> list[type]:
        return [NativeIPMIPower, ipmitool.IPMIPower]

    @property
    def supported_management_interfaces(self) -> list[type]:
        return [NativeIPMIManagement, ipmitool.IPMIManagement]

    @property
    def supported_console_interfaces(self) -> list[type]:
        # As the ipmi hardware type: ipmitool-socat, then no-console and the
        # generic graphical console.
        return [ipmitool.IPMISocatConsole] + super().supported_console_interfaces

    @property
    def supported_vendor_interfaces(self) -> list[type]:
        # ipmitool's stays the default (nodes keep what they had); native-ipmi adds a
        # read-only power_state passthru (what `fleet migrate` verifies a switch with).
        return [ipmitool.VendorPassthru, NativeIPMIVendorPassthru, noop.NoVendor]
