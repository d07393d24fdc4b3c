"""``ironic-scale conductors``: several conductors per host. ``generate`` writes their units and configs.

Add further subcommands in ``add_conductors`` (one ``_add_<name>(group)`` each).
"""

from __future__ import annotations

import argparse
import os
import sys

from ironic_scale import argtypes
from ironic_scale.sharding import budget, hostspec, names, ports
from ironic_scale.sharding.capacity_cli import add_capacity


def add_conductors(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    group = sub.add_parser(
        "conductors", help="several conductors per host: units, configs, capacity",
        description="Run N ironic-conductor processes per host on M hosts.").add_subparsers(
        dest="conductors_command", required=True)
    _add_generate(group)
    add_capacity(group)
    return group


def _default_conductor_bin() -> str:
    # Not resolved: a venv's python is a symlink, and its console scripts sit beside the link.
    return os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "ironic-conductor")


def _add_generate(group: argparse._SubParsersAction) -> None:
    p = group.add_parser(
        "generate", help="write systemd units and per-instance drop-ins for N conductors per host",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Writes, for every MACHINE, a root overlay OUT/MACHINE/ holding\n"
                    "  etc/systemd/system/ironic-conductor@.service  (base config + conductor.d/%i.conf)\n"
                    "  etc/systemd/system/ironic-conductors.target   (starts instances 1..N)\n"
                    "  <dir of --base-config>/conductor.d/<i>.conf   (name, json-rpc port, console slice,\n"
                    "                                                image caches, DB pool share)\n"
                    "and OUT/plan.json. The base config is read with Ironic's own options; what every\n"
                    "API and conductor must share (ring exponent/algorithm, RPC transport) stays there:\n"
                    "--exponent, --algorithm and --rpc-transport are checked against it, never written\n"
                    "into drop-ins. Nothing is written when any check fails.")
    hosts = p.add_mutually_exclusive_group(required=True)
    hosts.add_argument("--host", action="append", metavar="MACHINE[=N]",
                       help="a host (the name or address the API reaches it by) and its count; repeat")
    hosts.add_argument("--hosts-file", metavar="FILE", help="one MACHINE[=N] per line, # comments")
    p.add_argument("--per-host", type=argtypes.positive_int, metavar="N",
                   help="conductors on every host given without =N")
    p.add_argument("--rpc-transport", choices=("json-rpc", "oslo"), default="json-rpc",
                   help="json-rpc: same [DEFAULT]host, ports from --first-port; oslo: host names MACHINE, "
                        "MACHINE-2, ... (default json-rpc; must match the base config)")
    p.add_argument("--first-port", type=int, default=names.DEFAULT_JSON_RPC_PORT,
                   help="json-rpc port of instance 1; the others follow (default 8089: instance 1 keeps "
                        "the plain host name)")
    p.add_argument("--base-config", default="/etc/ironic/ironic.conf",
                   help="the shared ironic.conf, read here and named in the units (default %(default)s)")
    p.add_argument("--console-port-range", default="10000:20000", metavar="START:END",
                   help="console ports of one host, split into disjoint slices (END excluded, as in Ironic; "
                        "default %(default)s)")
    p.add_argument("--state-dir", default="/var/lib/ironic",
                   help="per-instance image caches go in STATE_DIR/conductor-<i>/ (default %(default)s)")
    p.add_argument("--conductor-bin", default=_default_conductor_bin(),
                   help="ironic-conductor on the hosts (default: beside this Python, %(default)s)")
    p.add_argument("--user", default="ironic", help="User= of the units (default %(default)s)")
    p.add_argument("--db-max-connections", type=argtypes.positive_int, required=True, metavar="N",
                   help="the database server's max_connections")
    p.add_argument("--api-workers", type=int, required=True, metavar="N",
                   help="API worker processes on all API hosts together (each holds its own pool)")
    p.add_argument("--db-reserve", type=int, default=budget.DEFAULT_RESERVE, metavar="N",
                   help="connections left free for dbsync, monitoring, superusers (default %(default)s)")
    p.add_argument("--exponent", type=int,
                   help="refuse unless the base config's hash_partition_exponent is this")
    p.add_argument("--algorithm", help="refuse unless the base config's hash_ring_algorithm is this")
    p.add_argument("--out", metavar="DIR", help="output directory (replaced if an earlier plan is there)")
    p.add_argument("--dry-run", action="store_true", help="print every file instead of writing")
    p.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from ironic_scale.sharding import generate  # reads Ironic's options: only when asked to

    if not args.out and not args.dry_run:
        raise ValueError("give --out DIR (or --dry-run)")
    if args.api_workers < 0 or args.db_reserve < 0:
        raise ValueError("--api-workers and --db-reserve cannot be negative")
    entries = args.host if args.host else hostspec.read_hosts_file(args.hosts_file)
    req = generate.Request(
        hosts=hostspec.parse_hosts(entries, args.per_host),
        base_config=os.path.abspath(args.base_config), db_max_connections=args.db_max_connections,
        api_workers=args.api_workers, rpc_transport=args.rpc_transport, first_port=args.first_port,
        console_range=ports.PortRange.parse(args.console_port_range), state_dir=args.state_dir,
        conductor_bin=args.conductor_bin, user=args.user, db_reserve=args.db_reserve,
        exponent=args.exponent, algorithm=args.algorithm)
    gen = generate.build(req)
    for w in gen.warnings:
        print(f"ironic-scale conductors generate: warning: {w}", file=sys.stderr)
    if args.dry_run:
        where = args.out or "OUT"
        for rel, text in gen.files.items():
            print(f"=== {os.path.join(where, rel)}")
            print(text, end="")
    else:
        out = generate.write(args.out, gen)
        plan = gen.plan
        db, stop = plan["database"], plan["stop"]
        print(f"wrote {out}: {len(plan['hosts'])} hosts, {plan['conductors']} conductors, "
              f"TimeoutStopSec={stop['timeout_stop_sec']}, "
              f"DB pool {db['max_pool_size']}+{db['max_overflow']} per process "
              f"({db['processes']} processes, at most {db['worst_case']} of "
              f"{db['max_connections']} connections)")
    for n in gen.notes:
        print(f"note: {n}", file=sys.stderr)
    return 0
