"""A node as the fleet commands see it: a plain dict with the REST API's field names.

openstacksdk renames some fields (``id`` for uuid, ``is_maintenance``); plans, journals and
tests use the API's names, which operators also see in ``baremetal node show``.
"""

from __future__ import annotations

from typing import Any

FIELDS = ("uuid", "name", "driver", "power_interface", "management_interface", "vendor_interface",
          "provision_state", "target_provision_state", "power_state", "maintenance",
          "maintenance_reason", "reservation", "conductor_group", "resource_class", "fault", "last_error")
_SDK_NAMES = {"uuid": "id", "maintenance": "is_maintenance"}


def view(node: Any) -> dict[str, Any]:
    """The fields above of an openstacksdk Node (or of a dict already in API form)."""
    if type(node) is dict:  # openstacksdk's resources are dicts too, keyed by their own names
        return {f: node.get(f) for f in FIELDS}
    return {f: getattr(node, _SDK_NAMES.get(f, f), None) for f in FIELDS}


def label(node: dict[str, Any]) -> str:
    """Name if it has one, else UUID: how summaries and errors name a node."""
    return node.get("name") or node["uuid"]
