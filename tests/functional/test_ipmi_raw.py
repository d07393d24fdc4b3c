"""Raw requests and BMC resets: the engine against the real ipmitool, on the same simulated BMC.

Ironic's send_raw passthru runs ``ipmitool raw`` with raw_bytes split on single spaces;
native-ipmi parses the same string itself (ipmi/raw.py). Here both get the same strings:
what ipmitool accepts we send as the same request and print the same way, what it refuses
we refuse, and where we refuse what ipmitool accepts the test shows why.
"""

from __future__ import annotations

import pytest

from ironic_scale.ipmi import commands, errors, raw
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.sim.launcher import start_fleet
from tests.fleets import start_in_range
from tests.ipmi_clients import ipmitool


@pytest.fixture(scope="module")
def fleet():
    f = start_in_range(lambda n, *a: start_fleet(n, a), 4, "127.236")
    yield f
    f.stop()


@pytest.fixture
def bmc(fleet):
    """A BMC of the module's fleet, as the simulator started it (resets change no state)."""
    ep = fleet.endpoints[0]
    fleet.control.set([ep.key], silent_cold_reset=False, reset_downtime=0.2)
    return fleet, ep


def delta(before: dict, after: dict, key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def creds_of(ep) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


def ours(engine, ep, text: str) -> str:
    return raw.format_response(raw.send_raw(engine, creds_of(ep), text, 5))


def theirs(ep, text: str):
    return ipmitool(ep, "raw", *text.split(" "))  # as Ironic's _exec_ipmitool splits it


ACCEPTED = ["0x06 0x01", "6 1", "0x6 0x1", "Application 0x01", "APPLICATION 0x01",
            "Chassis 0x01", "0x00 0x09 0x05 0x00 0x00", "0x00 0x09 005 0 +0", "0X0A 0X20",
            "0x06 0x38 0x8e 0x04"]
REFUSED = ["app 0x01", "0x06 0x1g", "0x06 0x01 256", "0x06 09", "0x06 0x", "0x06"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_raw_bytes_answer_as_ipmitool_prints(bmc, engine_factory, text):
    _, ep = bmc
    result = theirs(ep, text)
    assert result.returncode == 0, result.stderr
    assert ours(engine_factory(), ep, text) == result.stdout


@pytest.mark.parametrize("text", REFUSED)
def test_raw_bytes_ipmitool_refuses_are_refused(bmc, text):
    _, ep = bmc
    assert theirs(ep, text).returncode != 0
    with pytest.raises(ValueError):
        raw.parse_raw_bytes(text)


@pytest.mark.parametrize("text, sent", [
    ("0x06 0x01 ", "0x06 0x01 0x00"),  # a trailing space: a data byte 0x00
    ("0x06  0x01", "0x06 0x00 0x01"),  # two spaces: command 0x00, data 0x01
    ("0x46 0x01", "0x06 0x01"),  # netfn 0x46 keeps 6 bits on the wire: 0x06
])
def test_refused_where_ipmitool_sends_something_else(bmc, engine_factory, text, sent):
    # ipmitool reads an empty word as 0x00 (strtoul("") is 0) and truncates a netfn to
    # 6 bits: it sends ``sent``, not what was written. We refuse, naming the word.
    _, ep = bmc
    result, meant = theirs(ep, text), theirs(ep, sent)
    assert (result.returncode, result.stdout, result.stderr) == (meant.returncode, meant.stdout,
                                                                 meant.stderr)
    with pytest.raises(ValueError):
        raw.parse_raw_bytes(text)


def test_refused_command_carries_the_completion_code(bmc, engine_factory):
    _, ep = bmc
    assert "rsp=0xc1): Invalid command" in theirs(ep, "0x06 0x99").stderr
    with pytest.raises(errors.CommandFailed, match=r"completion code 0xC1 \(Invalid command\)") as e:
        ours(engine_factory(), ep, "0x06 0x99")
    assert e.value.code == 0xC1


@pytest.mark.parametrize("silent", [False, True])
def test_cold_reset_as_ipmitool_takes_it(bmc, engine_factory, silent):
    # ipmitool expects no answer to a cold reset (intf->noanswer) and reports it sent
    # either way; so do we, and each sends exactly one Cold Reset.
    f, ep = bmc
    f.control.set([ep.key], silent_cold_reset=silent)
    before = f.control.counters()
    result = ipmitool(ep, "bmc", "reset", "cold")
    assert (result.returncode, result.stdout) == (0, "Sent cold reset command to MC\n")
    engine = engine_factory()
    assert commands.bmc_reset(engine, creds_of(ep), False, 0.2, 5) is (not silent)
    assert commands.get_power(engine, creds_of(ep), 5) is False  # back, logged in afresh
    after = f.control.counters()
    assert (delta(before, after, "req.cold_reset"), delta(before, after, "bmc.reboots")) == (2, 2)


def test_warm_reset_keeps_the_bmc_up(bmc, engine_factory):
    f, ep = bmc
    before = f.control.counters()
    assert ipmitool(ep, "bmc", "reset", "warm").stdout == "Sent warm reset command to MC\n"
    assert commands.bmc_reset(engine_factory(), creds_of(ep), True, 0.2, 5) is True
    after = f.control.counters()
    assert (delta(before, after, "req.warm_reset"), delta(before, after, "bmc.reboots")) == (2, 0)
