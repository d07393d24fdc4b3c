"""Enroll simulated BMCs into a real Ironic as ``available`` nodes, and switch their driver in bulk.

25,000 nodes through REST (POST, manage, provide: three calls and two state
machine runs per node) take far too long, so this writes through Ironic's own
object and DB layers, the way Ironic's ``tools/benchmark/generate-database.py``
fills a database. It runs in its own process because it loads Ironic's global
configuration from the stack's config files::

    python -m ironic_scale.stack.enroll --config-file A [--config-file B ...] \\
        enroll --inventory INV.jsonl --driver ipmi|native-ipmi [--limit N]
    python -m ironic_scale.stack.enroll --config-file A \\
        set-driver --driver ipmi|native-ipmi [--names-from INV.jsonl]

Each prints one JSON line on stdout. Bad input (inventory, driver, config, a
database without schema) is one ``enroll: error: ...`` line on stderr and exit
status 2. ``run_enroll`` and ``run_set_driver`` run it from other processes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DRIVERS = ("ipmi", "native-ipmi")  # hardware types taking the ipmi_* driver_info below

# What Ironic's ipmitool ``detect_vendor`` stores for our simulator (run once against a
# simulated BMC, it returned 'unknown': ``ipmitool mc info`` prints "Manufacturer ID : 0",
# "Manufacturer Name : Unknown", which Ironic lower-cases). With properties['vendor'] set,
# node_cache_vendor() skips the extra ``ipmitool mc info`` fork per node on the first
# power-sync cycle. (The native-ipmi management interface would name the same BMC
# 'iana-0'; either value stops the probe.)
SIM_VENDOR = "unknown"

# Nodes created per database transaction. Measured on SQLite, 2 cores shared with a benchmark:
# Node.create() each in its own transaction, as generate-database.py does, ran 25,000 nodes
# in 100 s at load ~2 (75 s CPU) and only 56-70 nodes/s at load ~10 (25,000 in 6-7.5 min):
# every row pays a commit (an fsync) that contends with the machine's other I/O. The same
# Node.create() calls joined into one enginefacade writer transaction per chunk ran 25,000
# in 29 s at load ~3 and 39 s at load ~10, CPU-bound. That is far inside the budget, so
# enrollment stays on the object layer (field coercion, the version column, defaults, the
# exact values Ironic's API would store) instead of raw batched INSERTs into models.Node.
# 500 nodes hold SQLite's single write lock well under a second, so a running conductor's
# own writes (busy timeout 5 s) only wait briefly.
CHUNK = 500
# Names per ``name IN (...)`` clause: below SQLite's oldest bound-parameter limit (999).
NAMES_PER_UPDATE = 900

# States in which Ironic's conductor (ConductorManager.update_node) lets an API user
# change a node's interfaces; other nodes need maintenance mode first, as through REST.
INTERFACE_UPDATE_STATES = ("enroll", "inspecting", "inspect wait", "manageable", "available")

ERROR_PREFIX = "enroll: error: "
MODULE = "ironic_scale.stack.enroll"


class BadInput(Exception):
    """Input the operator has to fix: reported as one line, exit status 2."""


class EnrollFailed(RuntimeError):
    """The enroll subprocess failed; the message carries its exit status and stderr."""

    def __init__(self, message: str, returncode: int, stderr: str):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


# ---------------------------------------------------------------------------------------
# Python API for other processes: Ironic's CONF is global, so each call is a subprocess.


def run_enroll(config_files: Sequence[Path], inventory: Path, driver: str, limit: int | None = None,
               python: str = sys.executable, timeout: float = 1800.0,
               python_path: Sequence[str] = ()) -> dict[str, Any]:
    """Enroll every inventory line (or the first ``limit``) as an ``available`` node.

    ``python_path`` goes first on PYTHONPATH, as for the stack's processes (StackSpec.python_path):
    nodes are then written by the same Ironic that syncs them.
    Returns the command's JSON line: created, existing, seconds, driver.
    :raises EnrollFailed: the command failed (bad input: returncode 2).
    """
    args = ["enroll", "--inventory", str(inventory), "--driver", driver]
    if limit is not None:
        args += ["--limit", str(limit)]
    return _run(config_files, args, python, timeout, python_path)


def run_set_driver(config_files: Sequence[Path], driver: str, python: str = sys.executable,
                   names_from: Path | None = None, timeout: float = 1800.0) -> dict[str, Any]:
    """Switch all unlocked nodes (or those of an inventory) to ``driver``'s default interfaces.

    Returns the command's JSON line: switched (nodes now on the driver and its defaults,
    including any that already were), skipped_locked (reserved by a conductor),
    skipped_state (not in a state Ironic allows interface changes in, nor in maintenance),
    unknown_names (with ``names_from``: inventory lines with no node), seconds, driver.
    :raises EnrollFailed: the command failed (bad input: returncode 2).
    """
    args = ["set-driver", "--driver", driver]
    if names_from is not None:
        args += ["--names-from", str(names_from)]
    return _run(config_files, args, python, timeout)


def _run(config_files: Sequence[Path], args: list[str], python: str, timeout: float,
         python_path: Sequence[str] = ()) -> dict[str, Any]:
    cmd = [python, "-m", MODULE]
    for conf in config_files:
        cmd += ["--config-file", str(conf)]
    cmd += args
    # Run this very checkout even if ``python`` has another (or no) ironic_scale installed.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (*python_path, root, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
    if proc.returncode != 0:
        raise EnrollFailed(f"{args[0]} exited {proc.returncode}: {tail}",
                           proc.returncode, proc.stderr)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise EnrollFailed(f"{args[0]} printed no JSON result: {proc.stdout!r} {tail}",
                           proc.returncode, proc.stderr) from None


# ---------------------------------------------------------------------------------------
# The command, inside the process that owns Ironic's CONF.


def node_name(address: str, port: int) -> str:
    """``sim-<address>-<port>``: unique per BMC, and a valid Ironic logical name for IPv4."""
    return f"sim-{address}-{port}"


def _load_inventory(path: str, limit: int | None) -> list[Any]:
    from ironic.common import utils as ironic_utils

    from ironic_scale.sim import inventory

    try:
        endpoints = inventory.read(path)
    except FileNotFoundError:
        raise BadInput(f"inventory {path} does not exist") from None
    except OSError as e:
        raise BadInput(f"cannot read inventory {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(str(e).splitlines()[0]) from None
    if not endpoints:
        raise BadInput(f"inventory {path} has no BMCs")
    endpoints = endpoints[:limit] if limit is not None else endpoints
    seen: set[str] = set()
    for ep in endpoints:
        name = node_name(ep.address, ep.port)
        if not ironic_utils.is_valid_logical_name(name):
            raise BadInput(f"inventory {path}: {ep.address}:{ep.port} does not make a valid "
                           f"Ironic node name ({name!r})")
        if name in seen:
            raise BadInput(f"inventory {path}: {ep.address}:{ep.port} is listed twice")
        seen.add(name)
    return endpoints


def _prototype(context: Any, driver: str) -> Any:
    """A node object on ``driver`` with the interfaces Ironic defaults it to in this config.

    Computed once and copied: check_and_update_node_interfaces is what Ironic runs on
    every node create and driver update, and gives every node of a driver the same answer.
    """
    from ironic import objects
    from ironic.common import driver_factory, exception
    from ironic.conf import CONF
    from oslo_utils import uuidutils

    if driver not in DRIVERS:
        raise BadInput(f"unknown driver {driver!r}: use one of {', '.join(DRIVERS)}")
    try:
        driver_factory.get_hardware_type(driver)
    except exception.DriverNotFound:
        raise BadInput(f"driver {driver!r} is not enabled in the config (enabled_hardware_types = "
                       f"{','.join(CONF.enabled_hardware_types)})") from None
    proto = objects.Node(context, uuid=uuidutils.generate_uuid(), driver=driver)
    try:
        driver_factory.check_and_update_node_interfaces(proto)
    except exception.IronicException as e:
        raise BadInput(f"driver {driver!r}: {str(e).splitlines()[0]}") from None
    return proto


def _interfaces(proto: Any) -> dict[str, str]:
    return {field: getattr(proto, field) for field in proto.obj_what_changed()
            if field.endswith("_interface")}


def _check_schema() -> None:
    """Fail as bad input, before any write, on a database Ironic's dbsync never created."""
    import sqlalchemy as sa
    from ironic.conf import CONF
    from oslo_db.sqlalchemy import enginefacade

    if not CONF.database.connection:
        raise BadInput("the config has no [database]connection")
    try:
        engine = enginefacade.writer.get_engine()
        has_nodes = sa.inspect(engine).has_table("nodes")
    except sa.exc.SQLAlchemyError as e:
        raise BadInput(f"cannot open the database: {str(e).splitlines()[0]}") from None
    if not has_nodes:
        raise BadInput("the database has no Ironic schema: run "
                       "`ironic-dbsync --config-file CONF create_schema` first")


def _writer() -> Any:
    """A transaction that Ironic's own DB API calls made inside it join.

    Ironic's DB API opens ``enginefacade.writer.using(api._CONTEXT)``; oslo.db nests a
    writer opened on the same context into the outer transaction instead of committing.
    """
    from ironic.db.sqlalchemy import api as db_api
    from oslo_db.sqlalchemy import enginefacade

    return enginefacade.writer.using(db_api._CONTEXT)


def _with_lock_retry(fn: Any, *args: Any, max_wait: float = 60.0) -> Any:
    """Run one transaction, again if SQLite says another writer (the conductor) holds the lock.

    Ironic's wrap_sqlite_retry retries single statements; inside our joined transaction a
    lock error poisons the whole transaction, so the whole chunk is what must be retried.
    """
    import sqlalchemy as sa

    deadline = time.monotonic() + max_wait
    while True:
        try:
            return fn(*args)
        except sa.exc.SQLAlchemyError as e:
            if "database is locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.1, 1.0))  # back off, as Ironic's own SQLite retry does


def _existing_names() -> set[str]:
    import sqlalchemy as sa
    from ironic.db.sqlalchemy import api as db_api
    from ironic.db.sqlalchemy import models
    from oslo_db.sqlalchemy import enginefacade

    with enginefacade.reader.using(db_api._CONTEXT) as session:
        return set(session.execute(sa.select(models.NodeBase.name).where(
            models.NodeBase.name.is_not(None))).scalars())


def _create_chunk(context: Any, nodes: list[dict[str, Any]]) -> None:
    from ironic import objects

    with _writer():
        for fields in nodes:
            objects.Node(context, **fields).create()


def enroll(inventory_path: str, driver: str, limit: int | None = None) -> dict[str, Any]:
    """Create one ``available`` node per inventory line; skip names that already exist.

    ``seconds`` counts from here: config parsed, Ironic imported (about 1.5 s before).
    """
    from ironic.common import context as ironic_context
    from ironic.common import states
    from oslo_utils import uuidutils

    started = time.monotonic()
    endpoints = _load_inventory(inventory_path, limit)
    context = ironic_context.get_admin_context()
    interfaces = _interfaces(_prototype(context, driver))
    _check_schema()
    existing = _existing_names()
    new = []
    for ep in endpoints:
        name = node_name(ep.address, ep.port)
        if name in existing:
            continue
        new.append(dict(
            interfaces, uuid=uuidutils.generate_uuid(), name=name, driver=driver,
            driver_info={"ipmi_address": ep.address, "ipmi_port": ep.port,
                         "ipmi_username": ep.username, "ipmi_password": ep.password},
            provision_state=states.AVAILABLE,
            power_state=states.POWER_ON if ep.power == "on" else states.POWER_OFF,
            resource_class="baremetal", properties={"vendor": SIM_VENDOR}))
    for start in range(0, len(new), CHUNK):
        _with_lock_retry(_create_chunk, context, new[start:start + CHUNK])
    return {"created": len(new), "existing": len(endpoints) - len(new),
            "seconds": round(time.monotonic() - started, 3), "driver": driver}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _switch(values: dict[str, Any], names: list[str] | None) -> dict[str, int]:
    import sqlalchemy as sa
    from ironic.db.sqlalchemy import models

    node = models.NodeBase
    scopes = [None] if names is None else [node.name.in_(chunk) for chunk in
                                           _chunks(names, NAMES_PER_UPDATE)]
    switchable = sa.and_(node.reservation.is_(None), sa.or_(
        node.provision_state.in_(INTERFACE_UPDATE_STATES), node.maintenance.is_(True)))
    counts = {"switched": 0, "skipped_locked": 0, "skipped_state": 0, "matched": 0}
    with _writer() as session:
        # UPDATE first: on SQLite it takes the write lock, so the counts below read the
        # same nodes no conductor can reserve or release until we commit.
        for scope in scopes:
            where = switchable if scope is None else sa.and_(scope, switchable)
            result = session.execute(sa.update(node).where(where).values(**values)
                                     .execution_options(synchronize_session=False))
            counts["switched"] += result.rowcount
        for scope in scopes:
            row = session.execute(sa.select(
                sa.func.count(),
                sa.func.count(node.reservation),
            ).select_from(node).where(sa.true() if scope is None else scope)).one()
            counts["matched"] += row[0]
            counts["skipped_locked"] += row[1]
    counts["skipped_state"] = counts["matched"] - counts["switched"] - counts["skipped_locked"]
    return counts


def set_driver(driver: str, names_from: str | None = None) -> dict[str, Any]:
    """Move nodes to ``driver`` and its default interfaces, skipping locked ones.

    Ironic's REST API would need one PATCH (and a conductor task) per node; nodes with a
    reservation are in a conductor task and are left alone, as Ironic would refuse them.
    """
    from ironic.common import context as ironic_context

    started = time.monotonic()
    names = None
    if names_from is not None:
        names = [node_name(ep.address, ep.port) for ep in _load_inventory(names_from, None)]
    proto = _prototype(ironic_context.get_admin_context(), driver)
    _check_schema()
    values = {"driver": driver, **_interfaces(proto),
              "version": proto.do_version_changes_for_db()["version"]}
    counts = _with_lock_retry(_switch, values, names)
    out: dict[str, Any] = {"switched": counts["switched"], "skipped_locked": counts["skipped_locked"],
                           "skipped_state": counts["skipped_state"]}
    if names is not None:
        out["unknown_names"] = len(names) - counts["matched"]
    out.update(seconds=round(time.monotonic() - started, 3), driver=driver)
    return out


def _add_parsers(subparsers: Any) -> None:
    from ironic_scale import argtypes

    # dest names with a prefix: oslo.config refuses sub-command arguments named like one of
    # its options or groups (Ironic has an [inventory] group).
    p = subparsers.add_parser("enroll", help="create one available node per inventory line")
    p.add_argument("--inventory", dest="cmd_inventory", required=True, metavar="INV.jsonl",
                   help="JSON lines written by `ironic-scale sim run`")
    p.add_argument("--driver", dest="cmd_driver", required=True, metavar="DRIVER",
                   help=" or ".join(DRIVERS))
    p.add_argument("--limit", dest="cmd_limit", type=argtypes.positive_int, metavar="N",
                   help="only the first N inventory lines")
    p = subparsers.add_parser("set-driver", help="switch unlocked nodes to a driver's default interfaces")
    p.add_argument("--driver", dest="cmd_driver", required=True, metavar="DRIVER",
                   help=" or ".join(DRIVERS))
    p.add_argument("--names-from", dest="cmd_names_from", metavar="INV.jsonl",
                   help="only the nodes of this inventory (default: all nodes)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse Ironic's config and the subcommand as Ironic's own commands do, then run it."""
    # stderr is for the one-line errors; Ironic's imports warn about eventlet.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    # stdout carries the one JSON result line, but oslo.log logs to sys.stdout when the
    # config names no log_file: hand it stderr instead while Ironic sets logging up.
    result_out, sys.stdout = sys.stdout, sys.stderr
    try:
        out = _command(list(sys.argv if argv is None else argv))
    except BadInput as e:
        print(ERROR_PREFIX + str(e), file=sys.stderr)
        return 2
    finally:
        sys.stdout = result_out
    print(json.dumps(out), file=result_out, flush=True)
    return 0


def _command(argv: list[str]) -> dict[str, Any]:
    from ironic.common import service
    from ironic.conf import CONF
    from oslo_config import cfg

    CONF.register_cli_opt(cfg.SubCommandOpt("command", title="Commands", handler=_add_parsers))
    try:
        service.prepare_command(argv)
    except cfg.Error as e:
        raise BadInput(str(e).splitlines()[0]) from None
    command = CONF.command
    if command.name == "enroll":
        return enroll(command.cmd_inventory, command.cmd_driver, command.cmd_limit)
    return set_driver(command.cmd_driver, command.cmd_names_from)


if __name__ == "__main__":
    sys.exit(main())
