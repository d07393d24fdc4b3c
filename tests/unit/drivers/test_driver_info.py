"""driver_info validation and parsing: Ironic's ipmi_* fields, clear errors, no BMC traffic."""

import unittest

from ironic.common import exception
from ironic.conductor import task_manager
from ironic.drivers.modules import ipmitool
from oslo_config import cfg

from ironic_scale import conf as ns_conf
from ironic_scale.drivers import common
from ironic_scale.ipmi.credentials import PRIV_LEVELS, BmcCredentials
from tests.unit.drivers import NativeIPMITestCase

# Nothing listens here: validation must pass without ever asking a BMC.
GOOD = {"ipmi_address": "127.49.250.250", "ipmi_username": "admin", "ipmi_password": "pw"}


class ValidateTestCase(NativeIPMITestCase):
    def _validate(self, **fields):
        info = {**GOOD, **fields}
        node = self.create_node(driver_info={k: v for k, v in info.items() if v is not None})
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            task.driver.power.validate(task)
            task.driver.management.validate(task)
            return common.credentials(task.node)

    def _invalid(self, error=exception.InvalidParameterValue, **fields) -> str:
        return str(self.assertRaises(error, self._validate, **fields))

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

    def test_ipv6_address_is_refused_clearly(self):
        message = self._invalid(ipmi_address="fd00::1")
        self.assertIn("IPv6", message)
        self.assertIn("ipmitool", message)

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
                          "min_command_interval", "sockets"}, names)
        self.assertTrue(all(o.help for o in opts))

    def test_engine_config(self):
        conf = cfg.ConfigOpts()
        ns_conf.register_opts(conf)
        conf([])
        config = ns_conf.engine_config(conf)
        self.assertEqual((4, 1.0, 25.0, 600.0, 30000, 0.0),
                         (config.sockets, config.retry_interval, config.keepalive_interval,
                          config.idle_timeout, config.max_sessions, config.min_command_interval))
        conf.set_override("keepalive", False, group="native_ipmi")
        conf.set_override("session_cache_size", 50, group="native_ipmi")
        config = ns_conf.engine_config(conf)
        self.assertEqual((0.0, 50), (config.keepalive_interval, config.max_sessions))
