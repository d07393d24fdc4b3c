"""What ``fleet migrate`` changes on a node, whether it may, and in what order: no API calls.

A migration switches a node's hardware type and its power, management and vendor
interfaces between Ironic's ipmitool ones and native-ipmi. Before a switched node's power
sync may run, the power state read through the *new* power interface must equal the one
Ironic recorded: a wrong read would make the sync "correct" a running machine. The only
read-only way to ask a conductor for a BMC's power state over REST is the ``power_state``
passthru of the native-ipmi vendor interface, which only the native-ipmi hardware type
offers. So a node is first switched to the verifying combination (native-ipmi hardware type,
the target's power and management, native-ipmi vendor), read, and only then given its final
fields. The node stays in maintenance throughout (the power sync skips it), which is also
what Ironic requires for interface changes outside enroll, manageable and available.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SWITCHED = ("driver", "power_interface", "management_interface", "vendor_interface")
IPMI_DRIVERS = ("ipmi", "native-ipmi")  # hardware types taking the same ipmi_* driver_info

# Per target: the driver, power and management interfaces a migrated node ends with.
TARGETS: dict[str, dict[str, str]] = {
    "native-ipmi": {"driver": "native-ipmi", "power_interface": "native-ipmi",
                    "management_interface": "native-ipmi"},
    "ipmitool": {"driver": "ipmi", "power_interface": "ipmitool", "management_interface": "ipmitool"},
}
# The vendor interface follows: ipmitool's and native-ipmi's offer the same methods (send_raw,
# bmc_reset); native-ipmi's adds the power read. Any other (no-vendor) is left as it was.
_VENDOR = {"native-ipmi": {"ipmitool": "native-ipmi"}, "ipmitool": {"native-ipmi": "ipmitool"}}
VERIFY_VENDOR = "native-ipmi"
VERIFY_DRIVER = "native-ipmi"

# Ironic's states (ironic.common.states; a unit test keeps these equal): interfaces may change in
# the stable and failed states (in maintenance); a node in any other state is being worked on.
STABLE = ("enroll", "manageable", "available", "active", "error", "rescue")
FAILED = ("deploy failed", "clean failed", "inspect failed", "adopt failed", "rescue failed",
          "unrescue failed", "service failed")


def final_fields(node: Mapping[str, Any], target: str) -> dict[str, str]:
    """The switched fields ``node`` ends with when migrated to ``target``."""
    out = dict(TARGETS[target])
    vendor = node.get("vendor_interface")
    out["vendor_interface"] = _VENDOR[target].get(vendor, vendor)
    return out


def verify_fields(target: str) -> dict[str, str]:
    """The fields the node has while its new power interface is read."""
    return {**TARGETS[target], "driver": VERIFY_DRIVER, "vendor_interface": VERIFY_VENDOR}


def switched(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: node.get(k) for k in SWITCHED}


@dataclass(frozen=True)
class Verdict:
    """What to do with one node: ``migrate``, ``already`` (nothing to change) or ``skip``."""

    action: str
    reason: str = ""


def classify(node: Mapping[str, Any], target: str) -> Verdict:
    """Whether ``node`` can be migrated to ``target`` now, and if not, why (one line)."""
    goal = final_fields(node, target)
    if all(node.get(k) == v for k, v in goal.items() if k != "vendor_interface"):
        return Verdict("already", f"already on {target}")
    if node.get("driver") not in IPMI_DRIVERS:
        return Verdict("skip", f"hardware type {node.get('driver')} is not ipmi or native-ipmi")
    if node.get("reservation"):
        return Verdict("skip", f"locked by conductor {node['reservation']} (try again later)")
    state = node.get("provision_state")
    if node.get("target_provision_state") or state not in STABLE + FAILED:
        moving = f" -> {node['target_provision_state']}" if node.get("target_provision_state") else ""
        return Verdict("skip", f"in transitional state {state}{moving}: a conductor is working on it")
    return Verdict("migrate")


def batches(items: Sequence[Any], canary: int, size: int) -> list[list[Any]]:
    """A canary batch of ``canary`` items (none if 0), then batches of ``size``."""
    if size < 1 or canary < 0:
        raise ValueError("batch size must be at least 1 and the canary at least 0")
    out = [list(items[:canary])] if canary else []
    rest = items[canary:]
    out += [list(rest[i:i + size]) for i in range(0, len(rest), size)]
    return [b for b in out if b]


def too_many_failures(failed: int, attempted: int, max_rate: float, canary: bool) -> bool:
    """A canary stops the run on any failure; a batch when its failure rate exceeds ``max_rate``."""
    if failed == 0:
        return False
    return canary or attempted == 0 or failed / attempted > max_rate
