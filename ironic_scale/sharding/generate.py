"""Plan and write the deployment of N conductors per host on M hosts.

``build`` checks every input and computes every file in memory; ``write`` then
puts them in place all at once (a temporary directory beside ``--out``, renamed),
so a bad input never leaves a half-written tree. Layout of the output: one root
overlay per machine (``<machine>/etc/...``, to be copied onto that machine's
``/``) and ``plan.json`` for all of them.

Cluster-wide settings stay the base config's job and are only checked here: the
ring exponent and algorithm and the RPC transport must be equal on every API and
conductor, and the API reads the base config (or its own copy), not the drop-ins.
So an explicit ``--exponent``/``--algorithm``/``--rpc-transport`` that differs
from the base config is refused instead of being written into drop-ins the API
never sees.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ironic_scale.sharding import budget, dropins, hostspec, names, ports, units
from ironic_scale.sharding.baseconf import BaseSettings

PLAN = "plan.json"
BROKEN_ALGORITHMS = ("shake_128", "shake_256")  # accepted by Ironic's choices; every ring build fails
RECOMMENDED_EXPONENT = 7  # max/mean load ~1.2 at 16-32 conductors instead of 1.3-1.6 (sharding.md §5)


@dataclass(frozen=True)
class Request:
    hosts: list[hostspec.HostSpec]
    base_config: str
    db_max_connections: int
    api_workers: int
    rpc_transport: str = "json-rpc"
    first_port: int = names.DEFAULT_JSON_RPC_PORT
    console_range: ports.PortRange = ports.PortRange(10000, 20000)
    state_dir: str = "/var/lib/ironic"
    conductor_bin: str = "/usr/bin/ironic-conductor"
    user: str = "ironic"
    db_reserve: int = budget.DEFAULT_RESERVE
    exponent: int | None = None  # an assertion about the base config, not a setting
    algorithm: str | None = None


@dataclass
class Generated:
    files: dict[str, str]  # path relative to --out -> text
    plan: dict
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def conductor_dir(base_config: str) -> str:
    """Where the drop-ins go on the machine: ``conductor.d`` beside the base config."""
    return str(PurePosixPath(base_config).parent / "conductor.d")


def _check_cluster_settings(req: Request, base: BaseSettings, total: int) -> list[str]:
    path = req.base_config
    if base.rpc_transport != req.rpc_transport:
        raise ValueError(f"{path} sets rpc_transport = {base.rpc_transport} but --rpc-transport is "
                         f"{req.rpc_transport}: set it in the base config, which the API reads too")
    if req.exponent is not None and base.hash_partition_exponent != req.exponent:
        raise ValueError(f"{path} leaves hash_partition_exponent = {base.hash_partition_exponent} but "
                         f"--exponent is {req.exponent}: every API and conductor must agree, so change "
                         "the base config (a planned migration: most nodes move), not the drop-ins")
    if req.algorithm is not None and base.hash_ring_algorithm != req.algorithm:
        raise ValueError(f"{path} leaves hash_ring_algorithm = {base.hash_ring_algorithm} but --algorithm "
                         f"is {req.algorithm}: every API and conductor must agree; change the base config")
    if base.hash_ring_algorithm in BROKEN_ALGORITHMS:
        raise ValueError(f"{path}: hash_ring_algorithm = {base.hash_ring_algorithm} breaks every ring build "
                         "(its hexdigest() needs a length); use md5 or sha256")
    if (base.db_connection or "").startswith("sqlite") and total > 1:
        raise ValueError(f"{path} uses SQLite, which allows one Ironic process; {total} conductors need "
                         "PostgreSQL or MySQL")
    warnings = []
    if base.hash_partition_exponent < RECOMMENDED_EXPONENT and total >= 4:
        warnings.append(f"hash_partition_exponent = {base.hash_partition_exponent} with {total} conductors: "
                        f"the busiest carries 1.2-1.6x the mean; {RECOMMENDED_EXPONENT} is better "
                        "(changing it moves most nodes, so plan it)")
    return warnings


def _check_ports(req: Request, largest: int, machines: list[str]) -> None:
    if req.rpc_transport != "json-rpc":
        return
    last = req.first_port + largest - 1
    if not 1 <= req.first_port <= ports.PORT_MAX or last > ports.PORT_MAX:
        raise ValueError(f"--first-port {req.first_port}: json-rpc ports {req.first_port}-{last} do not fit "
                         f"in 1-{ports.PORT_MAX}")
    clash = [p for p in range(req.first_port, last + 1) if p in req.console_range]
    if clash:
        raise ValueError(f"json-rpc ports {req.first_port}-{last} overlap --console-port-range "
                         f"{req.console_range} (e.g. {clash[0]}); move one of them")
    if len(machines) > 1:
        loop = [m for m in machines if names.is_loopback(m)]
        if loop:
            raise ValueError(f"host {loop[0]!r} is a loopback name: with json-rpc the API connects to each "
                             "conductor's [DEFAULT]host, so hosts need addresses the others can reach")


def build(req: Request) -> Generated:
    """Check everything and compute every file; raises ValueError (one line) on bad input."""
    with warnings.catch_warnings():
        # names.registered_name imports ironic.conductor.rpcapi, whose imports (oslo.service,
        # futurist) load eventlet when it is installed, and eventlet warns on import.
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        return _build(req)


def _host(req: Request, base: BaseSettings, h: hostspec.HostSpec, cdir: str, pool: budget.PoolBudget,
          seen: dict[str, str]) -> tuple[dict[str, str], dict]:
    """One machine's files (units, drop-ins) and its plan entry; ``seen`` collects names across hosts."""
    instances = names.host_instances(h.machine, h.count, req.rpc_transport, req.first_port,
                                     base.pin_release_version)
    u = units.UnitSettings(
        machine=h.machine, count=h.count, user=req.user, conductor_bin=req.conductor_bin,
        base_config=req.base_config, conductor_dir=cdir, state_dir=req.state_dir,
        hash_ring_reset_interval=base.hash_ring_reset_interval,
        graceful_shutdown_timeout=base.graceful_shutdown_timeout)
    files = {f"{h.machine}/{units.UNIT_DIR}/{units.SERVICE}": units.render_service(u),
             f"{h.machine}/{units.UNIT_DIR}/{units.TARGET}": units.render_target(u)}
    entries = []
    for inst, console in zip(instances, ports.split(req.console_range, h.count), strict=True):
        key = inst.name.lower()  # MySQL's default collation compares hostnames case-blind
        if key in seen:
            raise ValueError(f"conductor name {inst.name!r} (host {h.machine}) equals {seen[key]!r} of "
                             "another host: every registered name must be unique")
        seen[key] = inst.name
        ic = dropins.InstanceConfig(inst, h.count, req.rpc_transport, console,
                                    dropins.cache_dirs(base, req.state_dir, inst.index), pool)
        dropin = f"{cdir}/{inst.index}.conf"
        files[f"{h.machine}{dropin}"] = dropins.render(ic, req.base_config)
        entry = {"index": inst.index, "name": inst.name, "host": inst.host}
        if req.rpc_transport == "json-rpc":
            entry["json_rpc_port"] = inst.json_rpc_port
        entry.update({"console_port_range": str(console), "caches": ic.caches,
                      "unit": f"ironic-conductor@{inst.index}.service", "dropin": dropin})
        entries.append(entry)
    return files, {"machine": h.machine, "count": h.count, "instances": entries}


def _build(req: Request) -> Generated:
    units.check_unit_path("--base-config", req.base_config)
    units.check_unit_path("--conductor-bin", req.conductor_bin)
    units.check_unit_path("--state-dir", req.state_dir)
    units.check_user(req.user)
    cdir = units.check_unit_path("conductor.d", conductor_dir(req.base_config))
    if req.rpc_transport not in ("json-rpc", "oslo"):
        raise ValueError(f"--rpc-transport {req.rpc_transport!r}: choose json-rpc or oslo")
    total = sum(h.count for h in req.hosts)
    base = BaseSettings.read(req.base_config)
    warned = _check_cluster_settings(req, base, total)
    _check_ports(req, max(h.count for h in req.hosts), [h.machine for h in req.hosts])
    pool = budget.split(req.db_max_connections, total, req.api_workers, req.db_reserve, base.max_pool_size)

    files: dict[str, str] = {}
    plan_hosts = []
    seen: dict[str, str] = {}
    for h in req.hosts:
        host_files, entry = _host(req, base, h, cdir, pool, seen)
        files.update(host_files)
        plan_hosts.append(entry)

    on_8089 = req.rpc_transport == "json-rpc" and any(
        i.get("json_rpc_port") == names.DEFAULT_JSON_RPC_PORT for h in plan_hosts for i in h["instances"])
    if on_8089 and base.json_rpc_port != names.DEFAULT_JSON_RPC_PORT:
        warned.append(f"instances on port 8089 register without ':port', so an API reading {req.base_config} "
                      f"would contact them on its [json_rpc]port {base.json_rpc_port}; start at "
                      f"--first-port {base.json_rpc_port} or set the API's [json_rpc]port to 8089")
    if not os.access(req.conductor_bin, os.X_OK):
        warned.append(f"--conductor-bin {req.conductor_bin} is not an executable here; the units need "
                      "it on every host")
    notes = [f"set [database]max_pool_size = {pool.max_pool_size} and max_overflow = {pool.max_overflow} "
             f"in the API's config too: its {req.api_workers} workers are in the budget, but no API config "
             "is written"]
    stop = units.stop_timeout(base.hash_ring_reset_interval, base.graceful_shutdown_timeout)
    plan = {
        "base_config": req.base_config, "conductor_dir": cdir, "conductor_bin": req.conductor_bin,
        "user": req.user, "rpc_transport": req.rpc_transport, "conductors": total,
        "ring": {"hash_partition_exponent": base.hash_partition_exponent,
                 "hash_ring_algorithm": base.hash_ring_algorithm,
                 "pin_release_version": base.pin_release_version,
                 "source": "base config; the drop-ins do not set them"},
        "stop": {"hash_ring_reset_interval": base.hash_ring_reset_interval,
                 "graceful_shutdown_timeout": base.graceful_shutdown_timeout,
                 "margin": units.STOP_MARGIN, "timeout_stop_sec": stop if stop is not None else "infinity"},
        "database": pool.as_dict(),
        "console_port_range": str(req.console_range),
        "state_dir": req.state_dir,
        "hosts": plan_hosts,
        "warnings": warned,
        "notes": notes,
    }
    files[PLAN] = json.dumps(plan, indent=2) + "\n"
    return Generated(files, plan, warned, notes)


def write(out: str | Path, gen: Generated) -> Path:
    """Put ``gen.files`` under ``out`` in one rename; an earlier output of this command is replaced.

    A directory that holds anything but an earlier plan is never touched.
    """
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / PLAN).is_file():
            raise ValueError(f"--out {out} is not empty and holds no {PLAN}: choose a new or empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        for rel, text in gen.files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.chmod(path, 0o644)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
