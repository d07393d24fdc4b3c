"""Checks on what each conductor group serves: the same drivers everywhere, and more than one conductor."""

from __future__ import annotations

from collections import defaultdict

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import Fleet, labels, ok, plural, warn
from ironic_scale.sharding.check_ring import conductor_rings
from ironic_scale.sharding.confload import Service


def driver_options() -> list[str]:
    """enabled_hardware_types, enabled_*_interfaces and default_*_interface, from Ironic's own list."""
    from ironic.conf.default import driver_opts

    return [o.dest for o in driver_opts
            if o.dest.startswith(("enabled_", "default_"))]


def _by_group(conductors: list[Service]) -> dict[str, list[Service]]:
    groups: dict[str, list[Service]] = defaultdict(list)
    for c in conductors:
        groups[c.group].append(c)
    return groups


def _shown(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(value) or "(empty)"
    return "(unset)" if value is None else str(value)


def driver_config_in_group(fleet: Fleet) -> list[Result]:
    """WARN when conductors of one group differ in enabled hardware types, enabled or default interfaces.

    Ironic never compares them (base_manager.py:481-520: "TODO(jroll) validate against other
    conductor"); after a rebalance a
    node can land on a conductor without its interface and fail to load its driver. The
    help of every enabled_*_interfaces option asks for the same set on every conductor.
    The order of an enabled list decides the default when default_*_interface is unset.
    """
    out = []
    for group, members in sorted(_by_group(fleet.conductors).items()):
        if len(members) < 2:
            continue
        for option in driver_options():
            values: dict[object, list[Service]] = defaultdict(list)
            for c in members:
                value = getattr(c.conf, option)
                value = [] if value is None and option.startswith("enabled_") else value
                if option.startswith("enabled_"):
                    default_opt = option.replace("enabled_", "default_").removesuffix("s")
                    unset_default = getattr(c.conf, default_opt, "set") is None
                    value = tuple(value) if unset_default else tuple(sorted(value))
                values[value].append(c)
            if len(values) > 1:
                parts = "; ".join(f"{_shown(v)} in {labels(cs)}" for v, cs in values.items())
                out.append(warn(f"group {group or '(default)'!r}: {option} differs: {parts}"))
    return out or ok("conductors of each group enable the same hardware types and interfaces")


def group_redundancy(fleet: Fleet) -> list[Result]:
    """WARN when a (group, hardware type) ring has exactly one conductor: no failover.

    When it stops, that key has no ring: API calls get NoValidHost and no power sync runs
    for its nodes (doc/source/admin/conductor-groups.rst; hash_ring.py:101-116).
    """
    rings = conductor_rings(fleet.conductors)
    single = {key: cs for key, cs in rings.items() if len({c.name for c in cs}) == 1}
    if single:
        alone: dict[str, list[str]] = defaultdict(list)  # conductor -> the keys only it serves
        for key, cs in sorted(single.items()):
            alone[cs[0].label].append(repr(key))
        parts = "; ".join(f"{', '.join(keys)} only by {label}" for label, keys in alone.items())
        return [warn(f"{plural(len(single), 'ring')} served by a single conductor (no failover): {parts}")]
    return ok(f"each of {plural(len(rings), 'ring')} (group:hardware type) has 2+ conductors")
