"""Checks on what several conductors on one machine would share: console ports and image caches."""

from __future__ import annotations

import os
from collections import defaultdict
from itertools import combinations

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import Fleet, ok, warn
from ironic_scale.sharding.confload import Service

# Master image caches (ImageCache subclasses): tftp (common/pxe_utils.py:1298-1302), instance
# images (drivers/modules/deploy_utils.py:1135-1140), ISOs served from [deploy]http_root
# (drivers/modules/image_utils.py:169-173). Per-node files under tftp_root/http_root are safe.
MASTER_CACHES = (("pxe", "tftp_master_path"), ("pxe", "instance_master_path"), ("deploy", "iso_master_path"))


def _by_machine(conductors: list[Service]) -> dict[str, list[Service]]:
    machines: dict[str, list[Service]] = defaultdict(list)
    for c in conductors:
        machines[c.machine].append(c)
    return machines


def _ports(c: Service) -> set[int]:
    ports: set[int] = set()
    for r in c.conf.console.port_range or []:
        ports.update(r)  # PortRange yields range(start, end), conf/console.py:27-45
    return ports


def shared_host_resources(fleet: Fleet) -> list[Result]:
    """WARN when conductors on one machine overlap [console]port_range or share a master image cache.

    Console ports are allocated from an in-process set plus a bind test
    (drivers/modules/console_utils.py:176-194), so two processes can pick the same port;
    ImageCache locks with lockutils without external=True (image_cache.py:110,146,169,265),
    i.e. per process, and each process enforces the cache size on the whole directory.
    """
    out = []
    for machine, members in sorted(_by_machine(fleet.conductors).items()):
        for a, b in combinations(members, 2):
            common = _ports(a) & _ports(b)
            if common:
                out.append(warn(f"on {machine}: {a.label} and {b.label} overlap in [console]port_range "
                                f"({min(common)}-{max(common)}, {len(common)} ports): give each a "
                                "disjoint range"))
        shared: dict[tuple[str, ...], list[str]] = defaultdict(list)  # instances -> what they share
        for group, option in MASTER_CACHES:
            paths: dict[str, list[Service]] = defaultdict(list)
            for c in members:
                value = getattr(c.conf[group], option)
                if value:  # empty disables the master cache
                    paths[os.path.normpath(value)].append(c)
            for path, sharing in sorted(paths.items()):
                if len(sharing) > 1:
                    shared[tuple(s.label for s in sharing)].append(f"[{group}]{option} {path}")
        for sharing, what in shared.items():
            out.append(warn(f"on {machine}: {', '.join(sharing)} share {', '.join(what)}: image cache locks "
                            "are per process; give each instance its own directories"))
    return out or ok("no two conductors on one machine share console ports or a master image cache")
