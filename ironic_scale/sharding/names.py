"""Conductor names exactly as Ironic registers them, and the names of N instances per host.

The registered name is what goes on the hash ring, so one wrong character
moves nodes: json-rpc appends ``:port`` (IPv6 in brackets) when the port is
not 8089 and the RPC version cap allows it (``BaseConductorManager.prepare_host``
in ironic/conductor/base_manager.py, which does this inside a method that also
touches the database, so the rule is restated here with the same inputs and is
checked against live conductors in the integration tests).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_JSON_RPC_PORT = 8089
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


# oslo.utils and Ironic are imported where they are used: this module is on the import path of
# every `ironic-scale` command (the stack names its conductors with it), and `bench` must run
# in a venv without Ironic.


def _rpc_version_cap(pin_release_version: str | None) -> str:
    from ironic.common import release_mappings
    from ironic.conductor.rpcapi import ConductorAPI

    release = release_mappings.RELEASE_MAPPING.get(pin_release_version) if pin_release_version else None
    return release["rpc"] if release else ConductorAPI.RPC_API_VERSION


def uses_port_suffix(rpc_transport: str, json_rpc_port: int, pin_release_version: str | None = None) -> bool:
    """True when Ironic appends ``:port`` to ``[DEFAULT]host`` (json-rpc, port != 8089, RPC >= 1.58)."""
    from oslo_utils import versionutils

    return (rpc_transport == "json-rpc" and json_rpc_port != DEFAULT_JSON_RPC_PORT
            and versionutils.is_compatible("1.58", _rpc_version_cap(pin_release_version)))


def uses_groups(pin_release_version: str | None = None) -> bool:
    """True when rings are keyed ``group:hardware_type`` (RPC >= 1.47), else by hardware type."""
    from oslo_utils import versionutils

    return versionutils.is_compatible("1.47", _rpc_version_cap(pin_release_version))


def registered_name(host: str, rpc_transport: str = "json-rpc", json_rpc_port: int = DEFAULT_JSON_RPC_PORT,
                    pin_release_version: str | None = None) -> str:
    """The ``conductors.hostname`` a conductor with these settings registers."""
    if uses_port_suffix(rpc_transport, json_rpc_port, pin_release_version):
        from oslo_utils import netutils

        return f"{netutils.escape_ipv6(host)}:{json_rpc_port}"
    return host


def is_loopback(host: str) -> bool:
    """True for loopback addresses and names: a json-rpc name other hosts cannot dial."""
    h = host.strip("[]").lower().rstrip(".")
    if h in LOOPBACK_NAMES or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def machine_of(name: str) -> str:
    """The host part of a registered name (``10.0.0.5:8090`` -> ``10.0.0.5``, ``[::1]:8090`` -> ``::1``)."""
    if name.count(":") > 1 and not name.startswith("["):
        return name  # a bare IPv6 address: never suffixed, so no port to strip
    from oslo_utils import netutils

    host, _port = netutils.parse_host_port(name)
    return host


@dataclass(frozen=True)
class Instance:
    """One conductor process on a host: what its config sets and the name it registers."""

    machine: str  # the host (failure domain) it runs on
    index: int  # 1..N on that host
    host: str  # [DEFAULT]host
    json_rpc_port: int  # [json_rpc]port
    name: str  # registered name, the ring member


def host_instances(machine: str, count: int, rpc_transport: str = "json-rpc",
                   first_port: int = DEFAULT_JSON_RPC_PORT,
                   pin_release_version: str | None = None) -> list[Instance]:
    """The ``count`` conductors of one host.

    json-rpc: every instance keeps ``[DEFAULT]host = machine`` (the address the API
    connects to) and takes its own port from ``first_port`` up; with the default 8089
    the first instance keeps the plain name a single conductor had, so going from one
    to N per host renames nobody. oslo.messaging: names must differ and need not
    resolve, so instance 1 keeps ``machine`` and the others are ``machine-2`` ...
    """
    if count < 1:
        raise ValueError(f"a host runs at least one conductor, not {count}")
    out = []
    for i in range(1, count + 1):
        if rpc_transport == "json-rpc":
            host, port = machine, first_port + i - 1
        else:
            host, port = (machine if i == 1 else f"{machine}-{i}"), first_port
        out.append(Instance(machine, i, host, port,
                            registered_name(host, rpc_transport, port, pin_release_version)))
    return out
