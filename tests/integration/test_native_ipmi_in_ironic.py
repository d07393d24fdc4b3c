"""A node on the native-ipmi driver in a real Ironic, against the simulator."""

from __future__ import annotations

import pytest

from tests.integration.ironic_stack import IronicStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = IronicStack(tmp_path_factory.mktemp("ironic"))
    s.start()
    yield s
    s.stop()


def enroll(stack: IronicStack, ep, **fields) -> str:
    body = {"driver": "native-ipmi", "power_interface": "native-ipmi",
            "management_interface": "native-ipmi",
            "driver_info": {"ipmi_address": ep.address, "ipmi_port": ep.port,
                            "ipmi_username": ep.username, "ipmi_password": ep.password},
            **fields}
    return stack.request("POST", "/v1/nodes", body)["uuid"]


def test_validate_power_and_boot_device_through_the_api(stack, fleet_factory):
    fleet = fleet_factory(1)
    ep = fleet.endpoints[0]
    uuid = enroll(stack, ep, name="native-1")

    result = stack.request("GET", f"/v1/nodes/{uuid}/validate")
    assert result["power"]["result"] is True, result["power"]
    assert result["management"]["result"] is True, result["management"]

    stack.request("PUT", f"/v1/nodes/{uuid}/states/power", {"target": "power on"})
    stack.wait_for(f"/v1/nodes/{uuid}", lambda n: n["power_state"] == "power on", "power on")
    assert fleet.control.state(ep.key)["power"] == "on"

    stack.request("PUT", f"/v1/nodes/{uuid}/management/boot_device",
                  {"boot_device": "pxe", "persistent": True})
    assert stack.request("GET", f"/v1/nodes/{uuid}/management/boot_device") == {
        "boot_device": "pxe", "persistent": True}
    assert fleet.control.state(ep.key)["boot_flags"][2:4] == "04"  # PXE selector

    stack.request("PUT", f"/v1/nodes/{uuid}/states/power", {"target": "power off"})
    stack.wait_for(f"/v1/nodes/{uuid}", lambda n: n["power_state"] == "power off", "power off")
    assert fleet.control.state(ep.key)["power"] == "off"
    actions = fleet.control.state(ep.key)["power_actions"]
    assert actions == {"on": 1, "off": 1}


def test_bad_driver_info_fails_validation_without_touching_the_bmc(stack, fleet_factory):
    fleet = fleet_factory(1)
    ep = fleet.endpoints[0]
    uuid = enroll(stack, ep, name="native-bad",
                  driver_info={"ipmi_address": ep.address, "ipmi_password": "secret-pw",
                               "ipmi_protocol_version": "1.5"})
    result = stack.request("GET", f"/v1/nodes/{uuid}/validate")
    assert result["power"]["result"] is False
    assert "2.0" in result["power"]["reason"]
    assert "secret-pw" not in str(result)
    assert fleet.control.counters().get("req.get_channel_auth_caps", 0) == 0
