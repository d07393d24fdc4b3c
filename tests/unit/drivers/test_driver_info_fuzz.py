"""Fuzz every ipmi_* driver_info field with arbitrary JSON, through the power interface.

Issue 9: a wrong type raised TypeError, or reached the engine's IO thread and
broke there. Whatever a field holds (the others valid), validate() and
get_power_state() may only succeed, raise Ironic's InvalidParameterValue or
MissingParameterValue, or raise IPMIFailure (a wrong password or port), each
within [native_ipmi]command_timeout plus a margin: a correctness bound (no
hang), not a benchmark.

Safety: only loopback may ever receive a packet and no DNS lookup may leave
the machine. get_power_state() runs only when the node's address is the
simulator's loopback literal; a fuzzed ipmi_address is only validated (and
get_power_state() is called only after validate() refused it, so it must fail
the same way without the network). A guard on getaddrinfo and sendto fails
the test if anything else is ever attempted.
"""

import ipaddress
import socket
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ironic.common import exception
from ironic.conductor import task_manager

from ironic_scale.drivers import common
from tests.unit.drivers import NativeIPMITestCase

COMMAND_TIMEOUT = 1.0
# Ours to spend beyond command_timeout: task and session bookkeeping on 2 busy cores.
MARGIN = 1.5
EXAMPLES = 60


class _Sim:
    """Stands for one of the simulated BMC's own values, filled in per test."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __repr__(self) -> str:
        return f"<the BMC's {self.attr}>"


SIM_ADDRESS, SIM_PORT, SIM_USER, SIM_PASSWORD = map(_Sim, ("address", "port", "username",
                                                           "password"))

_huge_int = st.integers(min_value=-(10 ** 4000), max_value=10 ** 4000)  # JSON stores <= 4300 digits
_control_text = st.text(st.characters(max_codepoint=0x9F, categories=["Cc"]), max_size=8)
_odd_strings = st.sampled_from([
    "", " ", "\n", "\x00", "\ud800", "a\udfff", "x" * 100_000, "9" * 5000, "0" * 40, "00" * 21,
    "\u0663", "\u200b", "true", "no", "single", "dual", "0x20", "040", "-1", "1e3", "NaN",
])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), _huge_int,
    st.floats(allow_nan=True, allow_infinity=True), st.text(), _control_text, _odd_strings,
)
# Short strings of the characters numbers, addresses and keys are made of.
_near_text = st.text(st.sampled_from("0123456789abcdefxX.-_:+ \n\t\u00e9"), max_size=16)
JSON_VALUES = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10,
)

# Values close to valid, so the network paths get exercised too.
NEAR_VALID = {
    "ipmi_address": [SIM_ADDRESS, "127.1", "2130706433", "0x7f.0.0.1", "bmc.invalid"],
    "ipmi_port": [SIM_PORT, "623", 0, 65535, 65536, -1, "0x26f"],
    "ipmi_username": [SIM_USER, "", "nobody", 1234, "u" * 16, "u" * 17],
    "ipmi_password": [SIM_PASSWORD, "", "wrong", "p" * 21, 12345, "pw\n"],
    "ipmi_priv_level": ["ADMINISTRATOR", "OPERATOR", "USER", "CALLBACK", "administrator", "ROOT"],
    "ipmi_protocol_version": ["2.0", 2.0, "1.5", 1.5, "2"],
    "ipmi_cipher_suite": [3, 17, "3", "17", 0, 1, "x"],
    "ipmi_hex_kg_key": ["00" * 20, "0a1bff", "abc", "ab" * 21, "zz"],
    "ipmi_bridging": ["no", "single", "dual", "none"],
    "ipmi_target_channel": ["7", 0, "0x0f", 16, "x"],
    "ipmi_target_address": ["0x72", 0x72, "054", 256],
    "ipmi_local_address": ["0x20", 0x20, "0x82"],
    "ipmi_transit_channel": ["0", 0],
    "ipmi_transit_address": ["0x82", 0x82],
    "ipmi_force_boot_device": [True, "false", "maybe"],
    "ipmi_disable_boot_timeout": [False, "true", "maybe"],
    "ipmi_terminal_port": [8023, "8023", 0, 70000],
}
FIELDS = tuple(NEAR_VALID)
# Fields read only with bridging: the fuzzed one gets a bridging that reads it.
SINGLE = {"ipmi_bridging": "single", "ipmi_target_channel": "7", "ipmi_target_address": "0x72"}
BRIDGING = {"ipmi_target_channel": SINGLE, "ipmi_target_address": SINGLE,
            "ipmi_local_address": SINGLE,
            "ipmi_transit_channel": {**SINGLE, "ipmi_bridging": "dual"},
            "ipmi_transit_address": {**SINGLE, "ipmi_bridging": "dual"}}
# The names an error about a field may give instead: dual bridging is refused as a
# whole; single bridging without its targets names the missing ones.
NAMED_AS = {"ipmi_transit_channel": ("ipmi_bridging",), "ipmi_transit_address": ("ipmi_bridging",),
            "ipmi_bridging": ("ipmi_bridging", "ipmi_target_channel")}
ALLOWED = (exception.InvalidParameterValue, exception.MissingParameterValue,
           exception.IPMIFailure)


def _is_loopback(host: object) -> bool:
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


class DriverInfoFuzzTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.48"
    FLEET_SIZE = len(FIELDS) + 1

    def setUp(self) -> None:
        super().setUp()
        self.config(command_timeout=COMMAND_TIMEOUT, group="native_ipmi")
        self.sim = self.bmc()  # one BMC per field: its session slots are this test's
        self.escapes: list[object] = []
        self._guard_network()

    def _guard_network(self) -> None:
        """Refuse (and record) any lookup or datagram that is not for loopback."""
        real_getaddrinfo, real_sendto = socket.getaddrinfo, socket.socket.sendto
        escapes = self.escapes

        def getaddrinfo(host, *args, **kw):
            if not _is_loopback(host):
                escapes.append(("getaddrinfo", host))
                raise socket.gaierror(socket.EAI_NONAME, "blocked by the fuzz test")
            return real_getaddrinfo(host, *args, **kw)

        def sendto(sock, data, *args):
            peer = args[-1]
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(peer[0]):
                escapes.append(("sendto", peer))
                raise OSError("blocked by the fuzz test")
            return real_sendto(sock, data, *args)

        self.patch(socket, "getaddrinfo", getaddrinfo)
        self.patch(socket.socket, "sendto", sendto)

    # -- one example ------------------------------------------------------------------

    def _timed(self, call, task) -> Exception | None:
        """Run ``call(task)``: success or an allowed error, within the bound."""
        start = time.monotonic()
        try:
            call(task)
            error = None
        except ALLOWED as e:
            error = e
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, COMMAND_TIMEOUT + MARGIN, f"{call.__name__} took {elapsed:.2f} s")
        return error

    def _check_message(self, field: str, value: object, error: Exception) -> None:
        message = str(error)
        self.assertLess(len(message), 1000)
        if isinstance(error, exception.IPMIFailure):
            return
        names = NAMED_AS.get(field, (field,))
        self.assertTrue(any(name in message for name in names), f"{names} not in {message!r}")
        if field in ("ipmi_password", "ipmi_hex_kg_key") and isinstance(value, str) \
                and len(value) >= 4:
            self.assertNotIn(value, message)

    def check(self, field: str, value: object) -> None:
        if isinstance(value, _Sim):
            value = getattr(self.sim, value.attr)
        info = {"ipmi_address": self.sim.address, "ipmi_port": self.sim.port,
                "ipmi_username": self.sim.username, "ipmi_password": self.sim.password,
                **BRIDGING.get(field, {}), field: value}
        node = self.create_node(driver_info=info)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            error = self._timed(task.driver.power.validate, task)
            if error is not None:
                self._check_message(field, value, error)
            if field == "ipmi_address" and value != self.sim.address:
                if error is not None:  # refused: must fail the same way, before any packet
                    again = self._timed(task.driver.power.get_power_state, task)
                    self.assertIs(type(error), type(again))
                    self.assertEqual(str(error), str(again))
                return
            if error is None:
                self.assertEqual(self.sim.address, common.credentials(task.node).address)
            self._timed(task.driver.power.get_power_state, task)
        self.assertEqual([], self.escapes)


def _fuzz(field: str):
    """A test method fuzzing ``field``: arbitrary JSON, and values near valid ones."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(value=st.one_of(st.sampled_from(NEAR_VALID[field]), _near_text, JSON_VALUES))
    def test(self, value):
        self.check(field, value)

    test.__name__ = f"test_{field}"
    test.__doc__ = f"{field}: any JSON value gives success or Ironic's error, in time."
    return test


for _field in FIELDS:
    setattr(DriverInfoFuzzTestCase, f"test_{_field}", _fuzz(_field))
