"""driver_info validation and parsing: Ironic's ipmi_* fields, clear errors, no BMC traffic."""

import unittest

from ironic.common import exception, states
from ironic.conductor import task_manager
from ironic.conf import CONF
from ironic.drivers.modules import ipmitool
from oslo_config import cfg

from ironic_scale import conf as ns_conf
from ironic_scale.drivers import common
from ironic_scale.ipmi.credentials import PRIV_LEVELS, BmcCredentials
from tests.unit.drivers import NativeIPMITestCase

# Nothing listens here: validation must pass without ever asking a BMC.
GOOD = {"ipmi_address": "127.49.250.250", "ipmi_username": "admin", "ipmi_password": "pw"}


class DriverInfoTestCase(NativeIPMITestCase):
    """Helpers only: validate a node's driver_info through the interfaces, as Ironic does."""

    def _validate(self, **fields):
        info = {**GOOD, **fields}
        node = self.create_node(driver_info={k: v for k, v in info.items() if v is not None})
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            task.driver.power.validate(task)
            task.driver.management.validate(task)
            return common.credentials(task.node)

    def _invalid(self, error=exception.InvalidParameterValue, **fields) -> str:
        return str(self.assertRaises(error, self._validate, **fields))


class ValidateTestCase(DriverInfoTestCase):
    def test_valid_driver_info_gives_credentials(self):
        stats = common.engine().stats()
        creds = self._validate(ipmi_port="6230", ipmi_priv_level="OPERATOR")
        self.assertEqual(("127.49.250.250", 6230, "admin", "pw"),
                         (creds.address, creds.port, creds.username, creds.password))
        self.assertEqual(PRIV_LEVELS["OPERATOR"], creds.priv_level)
        self.assertIsNone(creds.cipher_suite)  # unset: try 17, then 3
        self.assertIsNone(creds.kg)
        self.assertIsNone(creds.bridge)
        self.assertEqual(stats.get("sessions_created", 0),
                         common.engine().stats().get("sessions_created", 0))

    def test_defaults_are_ipmitools(self):
        creds = self._validate(ipmi_username=None, ipmi_password=None)
        self.assertEqual((623, "", "", PRIV_LEVELS["ADMINISTRATOR"]),
                         (creds.port, creds.username, creds.password, creds.priv_level))

    def test_missing_address(self):
        message = self._invalid(exception.MissingParameterValue, ipmi_address=None)
        self.assertIn("ipmi_address", message)

    def test_bad_address(self):
        self.assertIn("Invalid IPMI address", self._invalid(ipmi_address="no such host!"))
        message = self._invalid(ipmi_address="-bad-host")
        self.assertIn('Invalid IPMI address "-bad-host" (ipmi_address)', message)

    def test_ipv6_address_is_accepted_as_by_ironic(self):
        # Any spelling ipaddress reads (as Ironic's _validate_ipmi_address); the engine
        # matches replies by the kernel's form (tests/unit/drivers/test_ipv6.py).
        for address in ("fd00::1", "FD00:0::1", "::1", "fe80::1%lo"):
            self.assertEqual(address, self._validate(ipmi_address=address).address)
        self.assertIn("Invalid IPMI address", self._invalid(ipmi_address="[fd00::1]"))

    def test_bad_port(self):
        self.assertIn('ipmi_port "70000" is not a valid port', self._invalid(ipmi_port=70000))

    def test_bad_priv_level(self):
        message = self._invalid(ipmi_priv_level="ROOT")
        self.assertIn("ROOT", message)
        self.assertIn("ADMINISTRATOR", message)

    def test_protocol_version_1_5_is_refused(self):
        message = self._invalid(ipmi_protocol_version="1.5")
        self.assertIn("IPMI 2.0 only", message)
        self.assertIn("ipmitool", message)

    def test_bad_protocol_version(self):
        self.assertIn("protocol version", self._invalid(ipmi_protocol_version="3"))

    def test_cipher_suites(self):
        self.assertEqual(17, self._validate(ipmi_cipher_suite="17").cipher_suite)
        self.assertEqual(3, self._validate(ipmi_cipher_suite=3).cipher_suite)
        message = self._invalid(ipmi_cipher_suite=1)
        self.assertIn("use 3 or 17", message)
        self.assertIn("expected a number", self._invalid(ipmi_cipher_suite="strong"))

    def test_kg_key(self):
        self.assertEqual(b"\x0a\x1b\xff", self._validate(ipmi_hex_kg_key="0a1bff").kg)
        self.assertIn("not even", self._invalid(ipmi_hex_kg_key="abc"))
        message = self._invalid(ipmi_hex_kg_key="secretzz")
        self.assertIn("not a hexadecimal", message)
        self.assertNotIn("secretzz", message)  # a key is never echoed

    def test_single_bridging(self):
        creds = self._validate(ipmi_bridging="single", ipmi_target_channel="7",
                               ipmi_target_address="0x72")
        self.assertEqual((7, 0x72), creds.bridge)
        self.assertEqual((0, 0x2C), self._validate(ipmi_bridging="single", ipmi_target_channel=0,
                                                   ipmi_target_address="054").bridge)

    def test_single_bridging_needs_no_ipmitool(self):
        # Ironic's parser refuses bridging unless running ipmitool proved support;
        # native-ipmi checks bridging itself and never asks.
        self.patch(ipmitool, "SINGLE_BRIDGE_SUPPORT", None)
        self.config(enabled_power_interfaces=["native-ipmi"],
                    enabled_management_interfaces=["native-ipmi"])
        creds = self._validate(ipmi_bridging="single", ipmi_target_channel="6",
                               ipmi_target_address="0x2c")
        self.assertEqual((6, 0x2C), creds.bridge)

    def test_single_bridging_needs_a_target(self):
        message = self._invalid(exception.MissingParameterValue, ipmi_bridging="single",
                                ipmi_target_channel="7")
        self.assertIn("ipmi_target_address", message)

    def test_single_bridging_with_bad_target(self):
        message = self._invalid(ipmi_bridging="single", ipmi_target_channel="99",
                                ipmi_target_address="x")
        self.assertIn("ipmi_target_channel", message)
        self.assertIn("ipmi_target_address", message)

    def test_single_bridging_from_another_local_address(self):
        self.assertEqual((7, 0x72), self._validate(
            ipmi_bridging="single", ipmi_target_channel="7", ipmi_target_address="0x72",
            ipmi_local_address="0x20").bridge)
        message = self._invalid(ipmi_bridging="single", ipmi_target_channel="7",
                                ipmi_target_address="0x72", ipmi_local_address="0x82")
        self.assertIn("ipmi_local_address", message)

    def test_dual_bridging_is_refused(self):
        message = self._invalid(ipmi_bridging="dual", ipmi_transit_channel="0",
                                ipmi_transit_address="0x82", ipmi_target_channel="7",
                                ipmi_target_address="0x72")
        self.assertIn("dual bridging", message)
        self.assertIn("not supported by native-ipmi", message)
        self.assertIn("ipmitool power", message)

    def test_bad_bridging_type(self):
        self.assertIn("ipmi_bridging", self._invalid(ipmi_bridging="triple"))

    def test_every_bad_field_is_reported_at_once(self):
        message = self._invalid(ipmi_port="x", ipmi_priv_level="ROOT", ipmi_cipher_suite=2,
                                ipmi_protocol_version="1.5", ipmi_hex_kg_key="abc",
                                ipmi_bridging="dual")
        for field in ("ipmi_port", "ROOT", "ipmi_cipher_suite", "1.5", "ipmi_hex_kg_key",
                      "dual bridging"):
            self.assertIn(field, message)

    def test_password_is_never_in_an_error(self):
        message = self._invalid(ipmi_password="Sup3r-S3cret", ipmi_port=-1, ipmi_hex_kg_key="zz")
        self.assertNotIn("Sup3r-S3cret", message)

    def test_properties_are_ipmitools(self):
        node = self.create_node(driver_info=GOOD)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual(ipmitool.COMMON_PROPERTIES, task.driver.power.get_properties())
            self.assertEqual(ipmitool.COMMON_PROPERTIES, task.driver.management.get_properties())


class AddressSpellingTestCase(DriverInfoTestCase):
    """Issue 9 item 3: the engine matches replies by the canonical dotted quad."""

    def test_numeric_spellings_name_the_canonical_address(self):
        for spelling, canonical in (("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
                                    ("127.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
                                    ("127.0.0.010", "127.0.0.8"), ("127.0.0.1.", "127.0.0.1")):
            with self.subTest(spelling=spelling):
                message = self._invalid(ipmi_address=spelling)
                self.assertIn(f"ipmi_address '{spelling}' is not a canonical IPv4 address; "
                              f"use {canonical}", message)

    def test_numeric_spelling_of_no_address(self):
        for spelling in ("999.1", "1.2.3.4.5", "08.0.0.1"):
            with self.subTest(spelling=spelling):
                self.assertIn("is not a valid IPv4 address", self._invalid(ipmi_address=spelling))

    def test_whitespace_and_control_characters_are_refused(self):
        for spelling in ("127.0.0.1\n", "127.0.0.1 ", "\t127.0.0.1", "bmc.example.com\n",
                         "bmc\x00.example.com", "127.0.0.1\u200b"):
            with self.subTest(spelling=spelling):
                message = self._invalid(ipmi_address=spelling)
                self.assertIn("ipmi_address", message)
                self.assertIn("whitespace or control characters", message)
                self.assertNotIn("\n", message)  # shown escaped, on one line

    def test_canonical_quad_and_host_names_still_work(self):
        for address in ("127.0.0.1", "10.1.2.3", "bmc-7.example.com", "bmc7"):
            with self.subTest(address=address):
                self.assertEqual(address, self._validate(ipmi_address=address).address)


class KgKeyTestCase(DriverInfoTestCase):
    def test_all_zero_kg_means_no_kg_as_for_ipmitool(self):
        for key in ("00", "00" * 20, "0000"):
            with self.subTest(key=key):
                self.assertIsNone(self._validate(ipmi_hex_kg_key=key).kg)
        self.assertEqual(b"\0" * 19 + b"\1", self._validate(ipmi_hex_kg_key="00" * 19 + "01").kg)

    def test_kg_longer_than_20_bytes_is_refused(self):
        self.assertEqual(b"\xab" * 20, self._validate(ipmi_hex_kg_key="ab" * 20).kg)
        message = self._invalid(ipmi_hex_kg_key="ab" * 21)
        self.assertIn("ipmi_hex_kg_key is longer than 20 bytes", message)
        self.assertNotIn("abab", message)

    def test_kg_with_spaces_is_refused(self):
        # bytes.fromhex skips spaces; ipmitool does not.
        self.assertIn("not a hexadecimal", self._invalid(ipmi_hex_kg_key="0a 1b ff"))


# For each field: JSON values of the wrong type, each refused naming the field.
WRONG_TYPES = {
    "ipmi_address": [7, True, 1.5, ["127.0.0.1"], {"a": 1}],
    "ipmi_port": [True, 1.5, [623], {"p": 623}],
    "ipmi_username": [True, 1.5, ["admin"], {"u": 1}],
    "ipmi_password": [True, 1.5, ["pw"], {"p": "pw"}],
    "ipmi_priv_level": [4, True, 1.5, ["ADMINISTRATOR"], {"a": 1}],
    "ipmi_protocol_version": [2, True, ["2.0"], {"v": 2}],
    "ipmi_cipher_suite": [True, 3.0, [3], {"c": 3}],
    "ipmi_hex_kg_key": [1234, True, 1.5, ["00"], {"k": 1}],
    "ipmi_bridging": [1, True, ["single"], {"b": 1}],
    "ipmi_terminal_port": [True, 1.5, [8023], {"p": 1}, "x"],
    "ipmi_force_boot_device": [1.5, ["true"], {"a": 1}, "maybe"],
    "ipmi_disable_boot_timeout": [1.5, ["true"], {"a": 1}, "maybe"],
}
SINGLE_BRIDGE = {"ipmi_bridging": "single", "ipmi_target_channel": "7",
                 "ipmi_target_address": "0x72"}
WRONG_BRIDGE_TYPES = {
    "ipmi_target_channel": [True, 1.5, [7], {"c": 7}, "\u0663"],
    "ipmi_target_address": [True, 1.5, [0x72], {"a": 1}],
    "ipmi_local_address": [True, 1.5, [0x20], {"a": 1}],
}


class WrongTypeTestCase(DriverInfoTestCase):
    """Issue 9 item 12: a wrong JSON type is Ironic's error naming the field, never a TypeError."""

    def _refused(self, field, value, **extra):
        with self.subTest(field=field, value=value):
            message = self._invalid(**{**extra, field: value})
            self.assertIn(field, message)
            self.assertIn("Invalid IPMI driver_info for native-ipmi", message)
            return message

    def test_each_field_refuses_wrong_types(self):
        for field, values in WRONG_TYPES.items():
            for value in values:
                self._refused(field, value)

    def test_bridging_fields_refuse_wrong_types(self):
        for field, values in WRONG_BRIDGE_TYPES.items():
            for value in values:
                self._refused(field, value, **SINGLE_BRIDGE)

    def test_falsy_address_is_missing(self):
        for value in (0, False, "", [], {}):
            with self.subTest(value=value):
                message = self._invalid(exception.MissingParameterValue, ipmi_address=value)
                self.assertIn("ipmi_address", message)

    def test_secrets_of_the_wrong_type_are_not_echoed(self):
        self.assertNotIn("Sup3r", self._refused("ipmi_password", ["Sup3r-S3cret"]))
        self.assertNotIn("Sup3r", self._refused("ipmi_password", {"Sup3r-S3cret": 1}))
        self.assertNotIn("1234567", self._refused("ipmi_hex_kg_key", 12345678))

    def test_numbers_are_read_as_ipmitool_gets_them(self):
        # Ironic str()s every ipmitool argument: 1234 is the user "1234".
        creds = self._validate(ipmi_username=1234, ipmi_password=987654)
        self.assertEqual(("1234", "987654"), (creds.username, creds.password))

    def test_flags_accept_what_ironic_reads_as_a_boolean(self):
        for value in (True, False, "true", "False", "yes", "0", 1):
            with self.subTest(value=value):
                self._validate(ipmi_force_boot_device=value, ipmi_disable_boot_timeout=value)

    def test_every_interface_method_refuses_before_the_io_thread(self):
        self.config(command_timeout=1, group="native_ipmi")
        node = self.create_node(driver_info={**GOOD, "ipmi_username": ["admin"]})
        with task_manager.acquire(self.context, node.uuid) as task:
            calls = (task.driver.power.get_power_state, task.driver.management.get_boot_device,
                     lambda t: task.driver.power.set_power_state(t, states.POWER_ON),
                     lambda t: task.driver.management.set_boot_device(t, "pxe"))
            for call in calls:
                error = self.assertRaises(exception.InvalidParameterValue, call, task)
                self.assertIn("ipmi_username", str(error))


class UsernameAndPasswordTestCase(DriverInfoTestCase):
    def test_username_longer_than_16_bytes_is_refused(self):
        self.assertEqual("u" * 16, self._validate(ipmi_username="u" * 16).username)
        for name in ("u" * 17, "\u00e9" * 9):  # 9 x 2 bytes in UTF-8
            with self.subTest(name=name):
                self.assertIn("longer than 16 bytes", self._invalid(ipmi_username=name))

    def test_username_with_control_characters_is_refused(self):
        self.assertIn("control characters", self._invalid(ipmi_username="admin\n"))

    def test_lone_surrogates_are_refused(self):
        self.assertIn("ipmi_username", self._invalid(ipmi_username="ad\ud800"))
        message = self._invalid(ipmi_password="pw\udfff")
        self.assertIn("ipmi_password", message)
        self.assertNotIn("pw", message.replace("ipmi_password", ""))

    def test_password_longer_than_20_bytes_is_cut_as_ipmitool_cuts_it(self):
        self.assertEqual("p" * 20, self._validate(ipmi_password="p" * 25).password)

    def test_password_as_ipmitool_reads_ironics_password_file(self):
        self.assertEqual("secret", self._validate(ipmi_password="secret\n").password)
        self.assertEqual("sec", self._validate(ipmi_password="sec\tret").password)
        self.config(store_cred_in_env=True, group="ipmi")  # -E: the whole string (20 bytes)
        self.assertEqual("sec\tret", self._validate(ipmi_password="sec\tret").password)

    def test_password_cut_inside_a_character_is_refused(self):
        message = self._invalid(ipmi_password="p" * 19 + "\u00e9")
        self.assertIn("ipmi_password", message)
        self.assertIn("multi-byte", message)
        self.assertNotIn("ppp", message)

    def test_null_password_is_no_password(self):
        node = self.create_node(driver_info={**GOOD, "ipmi_password": None})
        self.assertEqual("", common.credentials(node).password)


class HugeValueTestCase(DriverInfoTestCase):
    """A value of megabytes must not come back whole in the error (it did: 10 MB)."""

    def test_huge_values_are_shortened_in_messages(self):
        huge = "9" * 1_000_000
        for field in ("ipmi_address", "ipmi_port", "ipmi_username", "ipmi_priv_level",
                      "ipmi_protocol_version", "ipmi_cipher_suite", "ipmi_bridging",
                      "ipmi_terminal_port", "ipmi_force_boot_device"):
            with self.subTest(field=field):
                message = self._invalid(**{field: huge})
                self.assertIn(field, message)
                self.assertLess(len(message), 400)
                self.assertIn("...", message)

    def test_huge_numbers_are_shortened(self):
        message = self._invalid(ipmi_port=10 ** 4000, ipmi_cipher_suite=-(10 ** 4000))
        self.assertLess(len(message), 400)
        message = self._invalid(**{**SINGLE_BRIDGE, "ipmi_target_channel": 10 ** 4000})
        self.assertLess(len(message), 400)

    def test_huge_secrets_are_never_echoed(self):
        message = self._invalid(ipmi_hex_kg_key="a" * 1_000_000, ipmi_password=["p" * 1000])
        self.assertNotIn("aaaa", message)
        self.assertNotIn("pppp", message)


class BmcCredentialsTestCase(unittest.TestCase):
    """BmcCredentials refuses what the engine thread could not use (one line, no secret)."""

    def test_valid(self):
        creds = BmcCredentials("127.0.0.1", 623, "u" * 16, "p" * 20, kg=b"k" * 20,
                               cipher_suite=3, bridge=(7, 0x72))
        self.assertEqual("127.0.0.1:623", creds.target)

    def test_each_bad_field_is_a_value_error(self):
        bad = {"address": [["127.0.0.1"], "", 7, "127.0.0.1\n", "a" * 256],
               "port": [0, 65536, "623", True],
               "username": ["u" * 17, 7, None, "\ud800"],
               "password": ["Secret-Pass-Word-Long", ["x"], "\ud800"],
               "kg": [b"", b"k" * 21, "00"],
               "priv_level": [0, 5, "ADMINISTRATOR", True],
               "cipher_suite": [1, "3", True],
               "bridge": [(16, 0), (0, 256), [7, 0x72], (7,), (True, 1)]}
        for name, values in bad.items():
            for value in values:
                with self.subTest(name=name, value=value):
                    fields = {"address": "127.0.0.1", name: value}
                    error = self.assertRaises(ValueError, BmcCredentials, **fields)
                    self.assertEqual(1, len(str(error).splitlines()))
                    self.assertNotIn("Secret", str(error))

    def assertRaises(self, error, call, *args, **kw):  # noqa: N802 - testtools style
        with super().assertRaises(error) as caught:
            call(*args, **kw)
        return caught.exception


class CredentialCacheTestCase(NativeIPMITestCase):
    def test_parsed_once_per_driver_info(self):
        node = self.create_node(driver_info=GOOD)
        first = common.credentials(node)
        self.assertIs(first, common.credentials(node))
        node.driver_info = {**GOOD, "ipmi_password": "new"}
        node.save()
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            second = common.credentials(task.node)
        self.assertIsNot(first, second)
        self.assertEqual("new", second.password)

    def test_invalid_change_is_not_hidden_by_the_cache(self):
        node = self.create_node(driver_info=GOOD)
        common.credentials(node)
        node.driver_info = {**GOOD, "ipmi_port": "bad"}
        self.assertRaises(exception.InvalidParameterValue, common.credentials, node)


class ConfTestCase(NativeIPMITestCase):
    def test_options_for_the_config_generator(self):
        [(group, opts)] = ns_conf.list_opts()
        self.assertEqual("native_ipmi", group)
        names = {o.name for o in opts}
        self.assertEqual({"session_cache_size", "command_timeout", "retry_interval", "keepalive",
                          "keepalive_interval", "idle_timeout", "pool_size",
                          "min_command_interval", "sockets", "metrics_interval", "source_address"}, names)
        self.assertTrue(all(o.help for o in opts))

    def test_engine_config(self):
        conf = cfg.ConfigOpts()
        ns_conf.register_opts(conf)
        conf([])
        config = ns_conf.engine_config(conf)
        # No [conductor] group here: the idle timeout follows Ironic's default sync interval.
        self.assertEqual((4, 1.0, 25.0, 300.0, 30000, 0.0, None),
                         (config.sockets, config.retry_interval, config.keepalive_interval,
                          config.idle_timeout, config.max_sessions, config.min_command_interval,
                          config.source_address))
        conf.set_override("keepalive", False, group="native_ipmi")
        conf.set_override("session_cache_size", 50, group="native_ipmi")
        config = ns_conf.engine_config(conf)
        self.assertEqual((0.0, 50), (config.keepalive_interval, config.max_sessions))

    def test_idle_timeout_follows_the_power_sync_unless_set(self):
        # Ironic's CONF, as in a conductor: [conductor]sync_power_state_interval decides.
        self.assertIsNone(CONF.native_ipmi.idle_timeout)
        for interval, idle in ((120, 300.0), (60, 150.0), (600, 1500.0), (10, 60.0), (24, 60.0),
                               (0, 600.0), (-1, 600.0)):
            self.config(sync_power_state_interval=interval, group="conductor")
            self.assertEqual(idle, ns_conf.engine_config(CONF).idle_timeout, interval)
        self.config(idle_timeout=45.0, group="native_ipmi")  # set by the operator: it wins
        self.assertEqual(45.0, ns_conf.engine_config(CONF).idle_timeout)
        self.config(sync_power_state_interval=600, group="conductor")
        self.assertEqual(45.0, ns_conf.engine_config(CONF).idle_timeout)

    def test_idle_timeout_is_unset_by_default_and_says_what_it_costs(self):
        [opt] = [o for o in ns_conf.OPTS if o.name == "idle_timeout"]
        self.assertIsNone(opt.default)
        for words in ("sync_power_state_interval", "2.5", "60 s", "log", "Raising it"):
            self.assertIn(words, opt.help)
