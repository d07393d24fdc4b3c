"""The config checks of ``ironic-scale check``, in order, and running them over a fleet.

Numbers are those of research/sharding.md "Checks a config linter should make".
"""

from __future__ import annotations

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding import (
    check_capacity,
    check_drivers,
    check_host,
    check_lifecycle,
    check_names,
    check_ring,
)
from ironic_scale.sharding.check_model import Check, Fleet

CHECKS: tuple[tuple[str, Check], ...] = (
    ("ring_settings_match", check_ring.ring_settings_match),  # 1
    ("ring_algorithm_usable", check_ring.ring_algorithm_usable),  # 2
    ("ring_balance", check_ring.ring_balance),  # 3
    ("unique_names", check_names.unique_names),  # 4
    ("name_characters", check_names.name_characters),  # 5
    ("json_rpc_loopback", check_names.json_rpc_loopback),  # 6
    ("json_rpc_ports", check_names.json_rpc_ports),  # 7
    ("host_unset", check_names.host_unset),  # 8
    ("sqlite_single_process", check_capacity.sqlite_single_process),  # 9
    ("db_connection_budget", check_capacity.db_connection_budget),  # 10
    ("driver_config_in_group", check_drivers.driver_config_in_group),  # 11
    ("group_redundancy", check_drivers.group_redundancy),  # 12
    ("stop_timeout", check_lifecycle.stop_timeout),  # 13
    ("ring_reset_interval", check_ring.ring_reset_interval),  # 14
    ("heartbeat_timeout", check_lifecycle.heartbeat_timeout),  # 15
    ("shared_host_resources", check_host.shared_host_resources),  # 16
    ("worker_pool", check_capacity.worker_pool),  # 17
    ("pin_release_version", check_lifecycle.pin_release_version),  # 18
)


def run(fleet: Fleet, checks: tuple[tuple[str, Check], ...] = CHECKS) -> list[tuple[str, Result]]:
    """Every check's results, one (check name, Result) per line of output."""
    return [(name, result) for name, check in checks for result in check(fleet)]
