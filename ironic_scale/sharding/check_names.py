"""Checks on conductor names and json-rpc addresses: unique, safe, reachable, bindable."""

from __future__ import annotations

import re
import socket
from collections import defaultdict

from oslo_upgradecheck.upgradecheck import Result

from ironic_scale.sharding.check_model import Fleet, every, fail, labels, ok, plural, warn
from ironic_scale.sharding.confload import Service
from ironic_scale.sharding.names import is_loopback, uses_port_suffix


def _named(services: list[Service]) -> str:
    return ", ".join(f"{s.label} = {s.name}" for s in services)


def host_unset(fleet: Fleet) -> list[Result]:
    """WARN when a conductor leaves [DEFAULT]host unset: its name is the FQDN of wherever it runs.

    The default is socket.getfqdn() at start (conf/default.py:384-390); a container or pod
    gets a new one per restart, and each rename is a remove + add (all its ACTIVE nodes are
    taken over). The other checks take this machine's FQDN for it, as Ironic would here.
    """
    unset = [c for c in fleet.conductors if not c.is_set("host")]
    if unset:
        return [warn(f"{labels(unset)} set no [DEFAULT]host: each registers the FQDN of the machine it "
                     f"runs on (checked here as {socket.getfqdn()!r}); set a stable name")]
    return ok(f"{every(len(fleet.conductors), 'conductor')} set [DEFAULT]host")


def unique_names(fleet: Fleet) -> list[Result]:
    """FAIL when two conductors register the same name (host + effective json-rpc port).

    The second one takes over the first one's row (db/sqlalchemy/api.py:1431-1448 with
    update_existing, base_manager.py:257-270), both run the periodics for the same nodes,
    and each restart clears the other's locks (base_manager.py:130-135).
    """
    by_name: dict[str, list[Service]] = defaultdict(list)
    for c in fleet.conductors:
        by_name[c.name].append(c)
    dupes = {n: cs for n, cs in by_name.items() if len(cs) > 1}
    if dupes:
        return [fail(f"{labels(cs)} all register as {n!r}: give each its own [DEFAULT]host or "
                     "[json_rpc]port") for n, cs in sorted(dupes.items())]
    return ok(f"{plural(len(by_name), 'distinct conductor name')}")


def _ilike(pattern: str, value: str) -> bool:
    """SQL ILIKE without an escape character: ``%`` any run, ``_`` any one character."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def name_characters(fleet: Fleet) -> list[Result]:
    """WARN on names with ``_``/``%`` or that differ only by case.

    A conductor clears locks with ``reservation ILIKE <its name>`` at start and stop
    (db/sqlalchemy/api.py:1538-1557), so ``cond_1`` also frees ``cond-1``'s nodes, and on
    MySQL's case-insensitive collation ``Cond1``/``cond1`` collide in the unique key.
    """
    names = sorted({c.name for c in fleet.conductors})
    out = []
    for name in names:
        if "_" in name or "%" in name:
            hits = [o for o in names if o != name and _ilike(name, o)]
            also = f"; it also matches {', '.join(hits)}" if hits else ""
            out.append(warn(f"conductor name {name!r} contains '_' or '%', wildcards in the ILIKE that "
                            f"clears its locks{also}"))
    by_lower: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_lower[name.lower()].append(name)
    for same in by_lower.values():
        if len(same) > 1:
            out.append(warn(f"conductor names {', '.join(same)} differ only by case: the ILIKE lock clearing "
                            "treats them as one"))
    return out or ok("no conductor name has '_', '%' or a case-only twin")


def json_rpc_loopback(fleet: Fleet) -> list[Result]:
    """FAIL when a json-rpc conductor is named (or listens) on loopback but the fleet spans hosts.

    The API connects to ``http://<registered name>`` (common/json_rpc/client.py:83-111):
    ``localhost`` or 127.x is the API's own machine. All-loopback fleets (one machine) pass.
    """
    machines = {c.machine for c in fleet.conductors} | {a.conf.host for a in fleet.apis if a.is_set("host")}
    remote = sorted(m for m in machines if not is_loopback(m))
    if not remote:
        return ok("no json-rpc conductor is on loopback while others are on other hosts")
    out = []
    for c in fleet.conductors:
        if not c.json_rpc:
            continue
        if is_loopback(c.machine):
            out.append(fail(f"{c.label} registers as {c.name!r} (loopback) while the fleet also runs on "
                            f"{', '.join(remote)}: an API elsewhere connects to its own loopback; use an "
                            "address or name the API hosts can reach"))
        elif not c.conf.json_rpc.unix_socket and is_loopback(c.conf.json_rpc.host_ip):
            out.append(fail(f"{c.label} listens on [json_rpc]host_ip {c.conf.json_rpc.host_ip} (loopback) "
                            f"while the fleet runs on {', '.join(sorted(machines))}: other hosts cannot "
                            "reach it"))
    return out or ok("no json-rpc conductor is on loopback while others are on other hosts")


def json_rpc_ports(fleet: Fleet) -> list[Result]:
    """FAIL when two json-rpc conductors on one machine listen on one port; WARN on an unsuffixed name
    reached through the API's own [json_rpc]port when that differs.

    A name without ``:port`` (port 8089, base_manager.py:112-119) is contacted on the
    *client's* [json_rpc]port (common/json_rpc/client.py:106-109).
    """
    listeners: dict[tuple[str, int], list[Service]] = defaultdict(list)
    for c in fleet.conductors:
        if c.json_rpc and not c.conf.json_rpc.unix_socket:
            listeners[(c.machine, c.json_rpc_port)].append(c)
    out = [fail(f"{labels(cs)} all listen on json-rpc port {port} on {machine}: only one can bind it")
           for (machine, port), cs in sorted(listeners.items()) if len(cs) > 1]
    for c in fleet.conductors:
        if not c.json_rpc or uses_port_suffix(c.rpc_transport, c.json_rpc_port, c.conf.pin_release_version):
            continue  # a name with ":port" tells every client where to connect
        wrong = [a for a in fleet.apis if a.json_rpc and a.json_rpc_port != c.json_rpc_port]
        if wrong:
            ports = ", ".join(f"{a.label} uses {a.json_rpc_port}" for a in wrong)
            out.append(warn(f"{c.label} listens on {c.json_rpc_port} and registers {c.name!r} without a "
                            "port, "
                            f"so APIs connect on their own [json_rpc]port: {ports}"))
    if out:
        return out
    used = sum(1 for c in fleet.conductors if c.json_rpc)
    return ok(f"{plural(used, 'json-rpc conductor')}: no port shared on one host, every API connects to "
              "the port each listens on" if used else "no json-rpc conductors")
