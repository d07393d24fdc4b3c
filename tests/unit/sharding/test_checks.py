"""Every config check of ``ironic-scale check``: real config files that trip it, and ones that pass.

The baseline deployment (conftest.py) passes everything; each test changes one thing.
"""

from __future__ import annotations

import socket
import types

import pytest

from ironic_scale.sharding.checks import CHECKS
from ironic_scale.sharding.ringshare import max_over_mean


def test_the_baseline_passes_every_check(deployment, lint):
    report = lint(deployment.args())
    assert report.failing() == {}
    assert report.code == 0
    assert [c["check"] for c in report.doc["checks"]] == [name for name, _ in CHECKS]


# 1 ring_settings_match
def test_an_api_with_another_exponent_fails(deployment, lint):
    deployment.set("api", "DEFAULT", hash_partition_exponent=5)
    report = lint(deployment.args())
    assert report.failing() == {"ring_settings_match": {"FAILURE"}}
    assert report.code == 2
    details = report.details("ring_settings_match")
    assert "hash_partition_exponent differs: 5 in api 1" in details and "api.conf" in details
    assert "7 in conductor 1" in details and "b2.conf" in details


def test_one_conductor_with_another_algorithm_fails(deployment, lint):
    deployment.set("b2", "DEFAULT", hash_ring_algorithm="sha256")
    report = lint(deployment.args())
    assert report.codes("ring_settings_match") == {"FAILURE"}
    details = report.details("ring_settings_match")
    assert "hash_ring_algorithm differs" in details and "sha256 in conductor 4" in details
    assert "conductor 4 (" + str(deployment.root / "b2.conf") + ")" in details


def test_without_an_api_the_conductors_are_compared_and_the_report_says_so(deployment, lint):
    deployment.with_api = False
    report = lint(deployment.args())
    assert report.codes("ring_settings_match") == {"SUCCESS"}
    assert "no --api given" in report.details("ring_settings_match")


# 2 ring_algorithm_usable
@pytest.mark.parametrize("algorithm", ["shake_128", "shake_256"])
def test_shake_algorithms_fail_because_tooz_cannot_build_a_ring(deployment, lint, algorithm):
    deployment.set("base", "DEFAULT", hash_ring_algorithm=algorithm)
    deployment.set("api", "DEFAULT", hash_ring_algorithm=algorithm)
    report = lint(deployment.args())
    assert report.failing() == {"ring_algorithm_usable": {"FAILURE"}}
    assert f"hash_ring_algorithm {algorithm}" in report.details("ring_algorithm_usable")
    assert "TypeError" in report.details("ring_algorithm_usable")


def test_sha256_everywhere_passes(deployment, lint):
    deployment.set("base", "DEFAULT", hash_ring_algorithm="sha256")
    deployment.set("api", "DEFAULT", hash_ring_algorithm="sha256")
    assert lint(deployment.args()).failing() == {}


# 3 ring_balance
def test_exponent_5_with_4_conductors_warns_with_the_rings_own_max_over_mean(deployment, lint):
    deployment.set("base", "DEFAULT", hash_partition_exponent=5)
    deployment.set("api", "DEFAULT", hash_partition_exponent=5)
    report = lint(deployment.args())
    assert report.failing() == {"ring_balance": {"WARNING"}}
    assert report.code == 1
    names = [f"{m}:{p}" for m in ("ctl-a.example.net", "ctl-b.example.net") for p in (8089, 8090)]
    names = [n.removesuffix(":8089") for n in names]  # port 8089 is not appended
    busiest, least = max_over_mean(names, 5, "md5")
    details = report.details("ring_balance")
    assert "ring ':ipmi': 4 conductors at hash_partition_exponent 5" in details
    assert f"the busiest owns {busiest:.2f}x the mean share" in details
    assert f"the least {least:.2f}x" in details
    assert f"exponent 7 would give {max_over_mean(names, 7, 'md5')[0]:.2f}x" in details


def test_exponent_5_with_3_conductors_passes(deployment, lint):
    deployment.set("base", "DEFAULT", hash_partition_exponent=5)
    deployment.set("api", "DEFAULT", hash_partition_exponent=5)
    del deployment.instances["b2"]
    assert lint(deployment.args()).codes("ring_balance") == {"SUCCESS"}


# 4 unique_names
def test_two_conductors_with_one_host_and_port_fail(deployment, lint):
    deployment.set("a2", "json_rpc", port=8089)
    report = lint(deployment.args())
    assert report.codes("unique_names") == {"FAILURE"}
    assert "all register as 'ctl-a.example.net'" in report.details("unique_names")
    assert "a1.conf" in report.details("unique_names") and "a2.conf" in report.details("unique_names")


def test_oslo_messaging_conductors_with_one_host_fail_although_ports_differ_nowhere(deployment, lint):
    deployment.set("base", "DEFAULT", rpc_transport="oslo")
    deployment.set("api", "DEFAULT", rpc_transport="oslo")
    deployment.set("a2", "DEFAULT", host="ctl-a.example.net")  # the port no longer tells them apart
    report = lint(deployment.args())
    assert report.codes("unique_names") == {"FAILURE"}
    assert report.codes("json_rpc_ports") == {"SUCCESS"}


def test_oslo_messaging_conductors_with_their_own_names_pass(deployment, lint):
    deployment.set("base", "DEFAULT", rpc_transport="oslo")
    deployment.set("api", "DEFAULT", rpc_transport="oslo")
    for tag in deployment.instances:
        deployment.set(tag, "DEFAULT", host=f"ctl-{tag}.example.net")
    assert lint(deployment.args()).failing() == {}


# 5 name_characters
def test_an_underscore_warns_and_names_the_conductor_it_also_matches(deployment, lint):
    deployment.set("a1", "DEFAULT", host="ctl_b.example.net")
    deployment.set("a1", "json_rpc", port=8090)  # ctl_b.example.net:8090 ILIKE-matches ctl-b.example.net:8090
    deployment.set("a1", "console", port_range="15000:15999")
    report = lint(deployment.args())
    assert report.failing() == {"name_characters": {"WARNING"}}
    assert "'ctl_b.example.net:8090' contains '_' or '%'" in report.details("name_characters")
    assert "it also matches ctl-b.example.net:8090" in report.details("name_characters")


def test_names_differing_only_by_case_warn(deployment, lint):
    deployment.set("b1", "DEFAULT", host="CTL-A.example.net")
    deployment.set("b2", "DEFAULT", host="CTL-A.example.net")
    report = lint(deployment.args())
    assert report.codes("name_characters") == {"WARNING"}
    assert "differ only by case" in report.details("name_characters")
    assert "CTL-A.example.net, ctl-a.example.net" in report.details("name_characters")


# 6 json_rpc_loopback
def test_a_loopback_name_in_a_fleet_on_several_hosts_fails(deployment, lint):
    deployment.set("a1", "DEFAULT", host="127.121.0.1")
    report = lint(deployment.args())
    assert report.failing() == {"json_rpc_loopback": {"FAILURE"}}
    assert "registers as '127.121.0.1' (loopback)" in report.details("json_rpc_loopback")
    assert "ctl-a.example.net, ctl-b.example.net" in report.details("json_rpc_loopback")


def test_localhost_is_loopback_too(deployment, lint):
    deployment.set("b2", "DEFAULT", host="localhost")
    assert lint(deployment.args()).codes("json_rpc_loopback") == {"FAILURE"}


def test_a_loopback_listen_address_in_a_fleet_on_several_hosts_fails(deployment, lint):
    deployment.set("b1", "json_rpc", host_ip="127.0.0.1")
    report = lint(deployment.args())
    assert report.codes("json_rpc_loopback") == {"FAILURE"}
    assert "host_ip 127.0.0.1 (loopback)" in report.details("json_rpc_loopback")


def test_a_fleet_all_on_loopback_passes(deployment, lint):
    for n, tag in enumerate(deployment.instances, 1):
        deployment.set(tag, "DEFAULT", host=f"127.121.0.{n}")
    assert lint(deployment.args()).failing() == {}


# 7 json_rpc_ports
def test_two_conductors_on_one_host_and_port_fail_to_bind(deployment, lint):
    deployment.set("b2", "json_rpc", port=8089)
    report = lint(deployment.args())
    assert report.codes("json_rpc_ports") == {"FAILURE"}
    assert "listen on json-rpc port 8089 on ctl-b.example.net" in report.details("json_rpc_ports")


def test_the_same_port_on_different_hosts_passes(deployment, lint):
    deployment.set("b1", "json_rpc", port=8095)
    deployment.set("a1", "json_rpc", port=8095)
    assert lint(deployment.args()).failing() == {}


def test_a_conductor_on_8089_warns_when_the_api_connects_on_another_port(deployment, lint):
    deployment.set("api", "json_rpc", port=8090)
    report = lint(deployment.args())
    assert report.failing() == {"json_rpc_ports": {"WARNING"}}
    details = report.details("json_rpc_ports")
    assert "conductor 1" in details and "conductor 3" in details and "conductor 2" not in details
    assert "registers 'ctl-a.example.net' without a port" in details and "api 1" in details


# 8 host_unset
def test_a_conductor_without_host_warns_and_is_checked_as_this_machine(deployment, lint):
    deployment.unset("b2", "DEFAULT", "host")
    deployment.set("b2", "json_rpc", port=8091)
    report = lint(deployment.args())
    assert report.codes("host_unset") == {"WARNING"}
    assert "conductor 4" in report.details("host_unset")
    assert repr(socket.getfqdn()) in report.details("host_unset")


# 9 sqlite_single_process
def test_sqlite_with_several_conductors_fails(deployment, lint, tmp_path):
    sqlite = f"sqlite:///{tmp_path}/ironic.sqlite"
    deployment.set("base", "database", connection=sqlite)
    deployment.set("api", "database", connection=sqlite)
    report = lint(deployment.args())
    assert report.failing() == {"sqlite_single_process": {"FAILURE"}}
    assert "use SQLite with 4 conductors" in report.details("sqlite_single_process")


def test_sqlite_with_one_json_rpc_conductor_fails(deployment, lint, tmp_path):
    deployment.set("base", "database", connection=f"sqlite:///{tmp_path}/ironic.sqlite")
    deployment.with_api = False
    deployment.instances = {"a1": deployment.instances["a1"]}
    deployment.unit = None
    report = lint(deployment.args())
    assert report.codes("sqlite_single_process") == {"FAILURE"}
    assert "json-rpc in conductor 1" in report.details("sqlite_single_process")


def test_sqlite_with_one_all_in_one_process_passes(deployment, lint, tmp_path):
    deployment.set("base", "database", connection=f"sqlite:///{tmp_path}/ironic.sqlite")
    deployment.set("base", "DEFAULT", rpc_transport="none")
    deployment.with_api = False
    deployment.instances = {"a1": deployment.instances["a1"]}
    report = lint(deployment.args())
    assert report.codes("sqlite_single_process") == {"SUCCESS"}
    assert report.codes("db_connection_budget") == {"SUCCESS"}


# 10 db_connection_budget
def test_oslo_db_default_pools_overflow_postgresql(deployment, lint):
    deployment.unset("base", "database", "max_pool_size")
    deployment.unset("base", "database", "max_overflow")
    deployment.unset("api", "database", "max_pool_size")
    deployment.unset("api", "database", "max_overflow")
    report = lint(deployment.args())
    assert report.failing() == {"db_connection_budget": {"FAILURE"}}
    details = report.details("db_connection_budget")
    # 2 API workers x (5 + 50) + 4 conductors x (5 + 50)
    assert "postgresql db.example.net:5432: 6 processes can open 330 connections" in details
    assert "api 1: 2 workers x 55; 4 conductors x 55" in details
    assert "> max_connections 100 (PostgreSQL's default)" in details


def test_max_connections_from_the_command_line(deployment, lint):
    deployment.unset("base", "database", "max_overflow")
    deployment.unset("api", "database", "max_overflow")  # 6 x (2 + 50) = 312
    assert lint([*deployment.args(), "--max-connections", "312"]).codes("db_connection_budget") == {"SUCCESS"}
    report = lint([*deployment.args(), "--max-connections", "311"])
    assert report.codes("db_connection_budget") == {"FAILURE"}
    assert "> max_connections 311 (--max-connections)" in report.details("db_connection_budget")


def test_api_workers_from_the_command_line(deployment, lint):
    # 20 API workers x 5 + 4 conductors x 5 = 120 > 100
    report = lint([*deployment.args(), "--api-workers", "20"])
    assert report.codes("db_connection_budget") == {"FAILURE"}
    assert "24 processes can open 120 connections" in report.details("db_connection_budget")


def test_api_workers_default_to_the_cpu_count_as_ironic_does(deployment, lint):
    import multiprocessing

    del deployment.api["api"]
    workers = min(multiprocessing.cpu_count(), 4)  # ironic/common/wsgi_service.py:177-181
    report = lint(deployment.args())
    assert f"api 1: {workers} workers (CPUs here) x 5" in report.details("db_connection_budget")
    assert f"{workers + 4} processes can open {5 * (workers + 4)} connections" in report.details(
        "db_connection_budget")


def test_mysql_defaults_to_151(deployment, lint):
    mysql = "mysql+pymysql://ironic:secret@db.example.net/ironic"
    deployment.set("base", "database", connection=mysql, max_pool_size=5, max_overflow=20)
    deployment.set("api", "database", connection=mysql, max_pool_size=5, max_overflow=20)
    report = lint(deployment.args())  # 6 x 25 = 150 <= 151
    assert report.codes("db_connection_budget") == {"SUCCESS"}
    assert "150 connections" in report.details("db_connection_budget")
    assert "max_connections 151 (MySQL/MariaDB's default)" in report.details("db_connection_budget")


def test_an_unbounded_overflow_fails(deployment, lint):
    deployment.set("b1", "database", max_overflow=-1)
    report = lint(deployment.args())
    assert report.codes("db_connection_budget") == {"FAILURE"}
    assert "unbounded pool" in report.details("db_connection_budget")
    assert "conductor 3" in report.details("db_connection_budget")


# 11 driver_config_in_group
def test_different_power_interfaces_in_one_group_warn(deployment, lint):
    deployment.set("base", "DEFAULT", enabled_power_interfaces="ipmitool")
    deployment.set("b2", "DEFAULT", enabled_power_interfaces="ipmitool,fake")
    report = lint(deployment.args())
    assert report.failing() == {"driver_config_in_group": {"WARNING"}}
    details = report.details("driver_config_in_group")
    assert "group '(default)': enabled_power_interfaces differs: ipmitool in conductor 1" in details
    assert "ipmitool,fake in conductor 4" in details


def test_the_order_of_enabled_interfaces_matters_only_without_a_default(deployment, lint):
    deployment.set("base", "DEFAULT", enabled_power_interfaces="ipmitool,fake")
    deployment.set("b2", "DEFAULT", enabled_power_interfaces="fake,ipmitool")
    assert lint(deployment.args()).codes("driver_config_in_group") == {"WARNING"}
    deployment.set("base", "DEFAULT", default_power_interface="ipmitool")
    assert lint(deployment.args()).codes("driver_config_in_group") == {"SUCCESS"}


def test_different_drivers_in_different_groups_pass(deployment, lint):
    for tag in ("b1", "b2"):
        deployment.set(tag, "conductor", conductor_group="West")
        deployment.set(tag, "DEFAULT", enabled_hardware_types="ipmi,redfish")
    assert lint(deployment.args()).failing() == {}


# 12 group_redundancy
def test_a_group_with_one_conductor_warns(deployment, lint):
    deployment.set("b2", "conductor", conductor_group="Rack9")
    report = lint(deployment.args())
    assert report.failing() == {"group_redundancy": {"WARNING"}}
    assert "'rack9:ipmi' only by conductor 4" in report.details("group_redundancy")


def test_a_hardware_type_on_one_conductor_warns(deployment, lint):
    deployment.set("a1", "DEFAULT", enabled_hardware_types="ipmi,redfish")
    report = lint(deployment.args())
    assert report.codes("group_redundancy") == {"WARNING"}
    assert "':redfish' only by conductor 1" in report.details("group_redundancy")
    assert report.codes("driver_config_in_group") == {"WARNING"}


# 13 stop_timeout
@pytest.mark.parametrize("value", ["15", "1min", "74s", "1min 14s"])
def test_a_stop_timeout_below_ring_wait_plus_graceful_shutdown_fails(deployment, lint, value):
    deployment.unit = f"[Service]\nTimeoutStopSec={value}\n"
    report = lint(deployment.args())
    assert report.failing() == {"stop_timeout": {"FAILURE"}}
    details = report.details("stop_timeout")
    assert ("ironic-conductor@.service:2) < 75 s = hash_ring_reset_interval 15 + "
            "graceful_shutdown_timeout 60") in details
    assert "conductor 1" in details and "conductor 4" in details


@pytest.mark.parametrize("value", ["75", "1min 15s", "1m15s", "infinity", "0", "2h"])
def test_a_stop_timeout_covering_it_passes(deployment, lint, value):
    deployment.unit = f"[Service]\nTimeoutStopSec={value}\n"
    assert lint(deployment.args()).codes("stop_timeout") == {"SUCCESS"}


def test_a_drop_in_overrides_the_template(deployment, lint):
    template = deployment.write("ironic-conductor@.service", "[Service]\nTimeoutStopSec=15\n")
    drop_in = deployment.write("timeout.conf", "[Service]\nTimeoutSec=5min\n")
    deployment.unit = None
    report = lint([*deployment.args(), "--unit", template, "--unit", drop_in])
    assert report.codes("stop_timeout") == {"SUCCESS"}
    assert f"TimeoutStopSec 300 s ({drop_in}:2)" in report.details("stop_timeout")


def test_without_a_unit_systemds_default_90_s_applies(deployment, lint):
    deployment.unit = None
    report = lint(deployment.args())
    assert report.codes("stop_timeout") == {"SUCCESS"}
    assert "no --unit given" in report.details("stop_timeout")
    deployment.set("b1", "conductor", graceful_shutdown_timeout=80)
    report = lint(deployment.args())
    assert report.codes("stop_timeout") == {"FAILURE"}
    assert "TimeoutStopSec 90 s (systemd's default) < 95 s" in report.details("stop_timeout")
    assert "conductor 3" in report.details("stop_timeout")


def test_an_endless_graceful_shutdown_needs_an_endless_stop_timeout(deployment, lint):
    deployment.set("a2", "conductor", graceful_shutdown_timeout=0)
    report = lint(deployment.args())
    assert report.codes("stop_timeout") == {"FAILURE"}
    assert "infinity (graceful_shutdown_timeout 0" in report.details("stop_timeout")
    deployment.unit = "[Service]\nTimeoutStopSec=infinity\n"
    assert lint(deployment.args()).codes("stop_timeout") == {"SUCCESS"}


# 14 ring_reset_interval
def test_a_conductor_refreshing_its_ring_sooner_than_the_api_warns(deployment, lint):
    deployment.set("a2", "DEFAULT", hash_ring_reset_interval=10)
    report = lint(deployment.args())
    assert report.failing() == {"ring_reset_interval": {"WARNING"}}
    assert "conductor 2" in report.details("ring_reset_interval")
    assert "10 s is shorter than 15 s in api 1" in report.details("ring_reset_interval")


def test_a_conductor_refreshing_later_than_the_api_passes(deployment, lint):
    deployment.set("a2", "DEFAULT", hash_ring_reset_interval=30)
    deployment.unit = "[Service]\nTimeoutStopSec=infinity\n"
    assert lint(deployment.args()).failing() == {}


# 15 heartbeat_timeout
def test_a_heartbeat_timeout_below_three_intervals_warns(deployment, lint):
    deployment.set("api", "conductor", heartbeat_timeout=25)
    report = lint(deployment.args())
    assert report.failing() == {"heartbeat_timeout": {"WARNING"}}
    assert "api 1" in report.details("heartbeat_timeout")
    assert "heartbeat_timeout 25 s < 3 x heartbeat_interval 10 s" in report.details("heartbeat_timeout")


def test_a_conductor_beating_slower_makes_every_reader_warn(deployment, lint):
    deployment.set("b1", "conductor", heartbeat_interval=30)  # 60 < 3 x 30 for every service
    report = lint(deployment.args())
    assert report.codes("heartbeat_timeout") == {"WARNING"}
    assert len(report.lines("heartbeat_timeout")) == 5


def test_a_short_conductor_cleanup_timeout_warns(deployment, lint):
    deployment.set("a1", "conductor", conductor_cleanup_timeout=120)
    report = lint(deployment.args())
    assert report.codes("heartbeat_timeout") == {"WARNING"}
    assert "conductor_cleanup_timeout 120 s < 3 x heartbeat_timeout 60 s" in report.details(
        "heartbeat_timeout")


# 16 shared_host_resources
def test_overlapping_console_ranges_on_one_host_warn(deployment, lint):
    deployment.set("b2", "console", port_range="11500:12500")  # b1 has 11000:11999
    report = lint(deployment.args())
    assert report.failing() == {"shared_host_resources": {"WARNING"}}
    details = report.details("shared_host_resources")
    assert "on ctl-b.example.net: conductor 3" in details and "conductor 4" in details
    assert "overlap in [console]port_range (11500-11998, 499 ports)" in details


def test_a_shared_master_cache_on_one_host_warns(deployment, lint):
    deployment.set("a2", "pxe", tftp_master_path="/var/lib/ironic/a1/tftp/")
    report = lint(deployment.args())
    assert report.codes("shared_host_resources") == {"WARNING"}
    assert "share [pxe]tftp_master_path /var/lib/ironic/a1/tftp" in report.details("shared_host_resources")


def test_the_same_paths_and_ports_on_different_hosts_pass(deployment, lint):
    for section, option in (("pxe", "tftp_master_path"), ("pxe", "instance_master_path"),
                            ("deploy", "iso_master_path"), ("console", "port_range")):
        deployment.set("b1", section, **{option: deployment.instances["a1"][section][option]})
    assert lint(deployment.args()).failing() == {}


def test_ironics_default_caches_are_shared_by_instances_on_one_host(deployment, lint):
    for tag in deployment.instances:
        del deployment.instances[tag]["pxe"], deployment.instances[tag]["deploy"]
    report = lint(deployment.args())
    assert report.codes("shared_host_resources") == {"WARNING"}
    assert len(report.lines("shared_host_resources")) == 2  # one per host
    assert "[pxe]tftp_master_path /tftpboot/master_images" in report.details("shared_host_resources")


# 17 worker_pool
def test_a_worker_pool_ironic_refuses_fails(deployment, lint):
    deployment.set("b2", "conductor", workers_pool_size=20)
    report = lint(deployment.args())
    assert report.failing() == {"worker_pool": {"FAILURE"}}
    assert ("conductor 4" in report.details("worker_pool")
            and "8 + 2 x periodic_max_workers 8 + 2 = 26 >= workers_pool_size 20 - 1 reserved (5%) = 19"
            in report.details("worker_pool"))


@pytest.mark.parametrize("size, percentage, sync_workers, periodic", [
    (27, 5, 8, 8), (28, 5, 8, 8), (300, 50, 8, 8), (40, 50, 8, 8), (80, 50, 30, 4), (12, 0, 1, 4),
    (13, 0, 1, 4), (3, 0, 1, 0), (100, 12, 40, 20), (39, 5, 8, 8), (40, 5, 8, 8), (20, 10, 1, 1),
])
def test_the_worker_pool_verdict_is_ironics_own(deployment, lint, size, percentage, sync_workers, periodic):
    """Ironic's BaseConductorManager._init_executors raises exactly when the check fails.

    Found this way: a reserve of exactly one thread (28 x 5% = 1) makes futurist raise ValueError.
    """
    from ironic.common import exception
    from ironic.conductor.base_manager import BaseConductorManager
    from ironic.conf import CONF

    CONF.set_override("sync_power_state_workers", sync_workers, group="conductor")
    CONF.set_override("periodic_max_workers", periodic, group="conductor")
    manager = types.SimpleNamespace()
    try:
        BaseConductorManager._init_executors(manager, size, percentage)
        ironic_refuses = False
    except (exception.IncorrectConfiguration, ValueError):
        ironic_refuses = True
    finally:
        CONF.clear_override("sync_power_state_workers", group="conductor")
        CONF.clear_override("periodic_max_workers", group="conductor")
        for executor in (getattr(manager, "_executor", None), getattr(manager, "_reserved_executor", None)):
            if executor is not None:
                executor.shutdown(wait=True)
    deployment.set("a1", "conductor", workers_pool_size=size, reserved_workers_pool_percentage=percentage,
                   sync_power_state_workers=sync_workers, periodic_max_workers=periodic)
    report = lint(deployment.args())
    assert report.codes("worker_pool") == ({"FAILURE"} if ironic_refuses else {"SUCCESS"})


def test_a_reserve_of_one_thread_fails(deployment, lint):
    deployment.set("a1", "conductor", workers_pool_size=30)  # int(30 x 5%) = 1
    report = lint(deployment.args())
    assert report.failing() == {"worker_pool": {"FAILURE"}}
    assert "conductor 1" in report.details("worker_pool")
    assert "a reserved pool of 1 thread (5% of workers_pool_size 30)" in report.details("worker_pool")


# 18 pin_release_version
def test_a_pin_below_rpc_1_58_warns_that_names_lose_their_port(deployment, lint):
    deployment.set("base", "DEFAULT", pin_release_version="2023.1")
    report = lint(deployment.args())
    assert report.codes("pin_release_version") == {"WARNING"}
    details = report.details("pin_release_version")
    assert "conductor 2" in details and "json-rpc names lose their ':port'" in details
    assert "conductor 1" in details  # port 8089 keeps its name, but the pin is still reported
    # Pinned names have no port, so the two instances of a host now collide.
    assert report.codes("unique_names") == {"FAILURE"}


def test_a_pin_below_rpc_1_47_warns_that_groups_are_ignored(deployment, lint):
    deployment.set("api", "DEFAULT", pin_release_version="11.0")
    report = lint(deployment.args())
    assert report.failing() == {"pin_release_version": {"WARNING"}}
    assert "api 1 (" in report.details("pin_release_version")
    assert "rings ignore conductor groups" in report.details("pin_release_version")


def test_a_pin_that_changes_nothing_still_warns(deployment, lint):
    deployment.set("api", "DEFAULT", pin_release_version="2026.1")
    report = lint(deployment.args())
    assert report.codes("pin_release_version") == {"WARNING"}
    assert "names and ring keys are as unpinned" in report.details("pin_release_version")
