"""``ironic-scale density``: the density test on a real Ironic, each series on the same fleet."""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path
from typing import Any

from ironic_scale import argtypes
from ironic_scale.bench import results
from ironic_scale.bench.progress import Progress
from ironic_scale.density import report, runner


def add_density(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "density", help="sync-cycle cost of a real Ironic per driver, on a simulated fleet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For each size: start a simulated fleet; for each series a fresh real Ironic 39 "
                    "(all-in-one on SQLite, or API + N conductors on PostgreSQL or MariaDB) with one node "
                    "per BMC enrolled through Ironic's object layer; then measure power-sync cycles: cycle "
                    "time (Ironic's log), nodes polled (the simulator), conductor CPU per node (its worker "
                    "process, children included), RSS and, on PostgreSQL, SQL statements per cycle "
                    "(pg_stat_statements). Series: ipmi (Ironic's ipmitool driver), native-ipmi (ours, "
                    "stock Ironic), native-ipmi-patched (ours, on a copy of Ironic with patches/ applied "
                    "and [conductor]bulk_power_sync = true). Optional: correctness checks, API load with "
                    "locust, py-spy flame graphs. Saves JSON and a PNG plot.",
        epilog="examples:\n"
               "  ironic-scale density --sizes 1000                       # all three series\n"
               "  ironic-scale density --sizes 200 --db postgresql \\\n"
               "      --drivers native-ipmi,native-ipmi-patched --flips 2   # with SQL statements\n"
               "  ironic-scale density --sizes 1000,5000,25000 --api-users 10 --profile 20\n"
               "  ironic-scale density --sizes 1000,5000 --db postgresql --conductors 1,2,4 \\\n"
               "      --drivers native-ipmi,native-ipmi-patched   # sync throughput per conductor count\n"
               "  ironic-scale density --sizes 50 --dead-fraction 0.04 --flips 3 --max-retries 1")
    p.add_argument("--sizes", type=argtypes.size_list, default=[1000],
                   help="node counts, e.g. 1000,5000,25000 (default 1000)")
    p.add_argument("--drivers", type=argtypes.name_list(runner.DRIVERS, "driver"),
                   default=list(runner.DRIVERS),
                   help="comma-separated series from ipmi (Ironic's ipmitool), native-ipmi (ours) and "
                        "native-ipmi-patched (ours on Ironic with patches/ and bulk power sync); "
                        "default all three")
    p.add_argument("--cycles", type=argtypes.positive_int, default=3, help="measured cycles (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="cycles before measuring (default 1)")
    p.add_argument("--slow-driver-cycles", type=argtypes.positive_int, default=1,
                   help="measured ipmi cycles above --slow-driver-above nodes, no warm-up (default 1)")
    p.add_argument("--slow-driver-above", type=int, default=5000)
    p.add_argument("--sync-interval", type=argtypes.positive_int, default=10,
                   help="[conductor]sync_power_state_interval in s (default 10; a cycle longer than "
                        "it is followed at once by the next)")
    p.add_argument("--db", choices=("sqlite", "postgresql", "mariadb"), default="sqlite",
                   help="sqlite: all-in-one ironic (one conductor); postgresql: ironic-api + conductors, and "
                        "SQL statements per cycle are counted (the cluster is restarted once to preload "
                        "pg_stat_statements); mariadb: ironic-api + conductors on a private MariaDB")
    p.add_argument("--rpc", choices=("json-rpc", "rabbit"), default="json-rpc",
                   help="between API and conductors (postgresql and mariadb): json-rpc, or oslo.messaging "
                        "over a private RabbitMQ")
    p.add_argument("--conductors", type=argtypes.size_list, default=[1], metavar="LIST",
                   help="conductor counts to run every size and series with, e.g. 1,2,4 (default 1; "
                        "more than one needs --db postgresql or mariadb); each is hosts x --per-host")
    p.add_argument("--per-host", type=argtypes.positive_int, default=1, metavar="N",
                   help="conductors per loopback host address (default 1); every count of "
                        "--conductors above 1 must be a multiple of it")
    p.add_argument("--address", default="127.170.0.1", help="first simulator address (loopback)")
    p.add_argument("--conductor-address", default="127.100.0.1",
                   help="the first conductor host's loopback address (the others follow it)")
    p.add_argument("--dead-fraction", type=argtypes.fraction, default=0.0,
                   help="BMCs that never answer; checks retries, maintenance and the others' sync")
    p.add_argument("--flips", type=int, default=0,
                   help="out-of-band power changes to check for correction after the measured cycles")
    p.add_argument("--max-retries", type=int, default=None,
                   help="[conductor]power_state_sync_max_retries (Ironic's default 3)")
    p.add_argument("--api-users", type=int, default=0, help="locust users loading the API during sync")
    p.add_argument("--api-seconds", type=argtypes.duration, default=30.0)
    p.add_argument("--profile", type=argtypes.duration, default=0.0, metavar="SECONDS",
                   help="record a py-spy flame graph of the conductor worker for SECONDS")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra ironic.conf setting, e.g. ipmi.command_retry_timeout=20")
    p.add_argument("--work", help="work directory (default: a new one under /tmp); logs are kept there")
    p.add_argument("--json", help="result file (default results/density-<timestamp>.json)")
    p.add_argument("--plot", help="PNG plot (default: next to the JSON file)")
    p.set_defaults(func=run_density)


def _options(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--set {item!r} is not SECTION.KEY=VALUE")
        options.setdefault(section, {})[name] = value
    if args.max_retries is not None:
        options.setdefault("conductor", {})["power_state_sync_max_retries"] = str(args.max_retries)
    return options


def _check_shape(args: argparse.Namespace) -> None:
    if args.db == "sqlite" and (max(args.conductors) > 1 or args.rpc != "json-rpc"):
        raise SystemExit("ironic-scale density: several conductors and --rpc rabbit need --db postgresql "
                         "or --db mariadb (SQLite runs the all-in-one ironic)")
    odd = [n for n in args.conductors if n > 1 and n % args.per_host]
    if odd:
        raise SystemExit(f"ironic-scale density: --conductors {','.join(map(str, odd))} is not a multiple "
                         f"of --per-host {args.per_host}")


def plan_from(args: argparse.Namespace) -> runner.DensityPlan:
    _check_shape(args)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ironic-scale-density-"))
    return runner.DensityPlan(
        sizes=args.sizes, work=work, drivers=tuple(args.drivers), cycles=args.cycles, warmup=args.warmup,
        slow_driver_cycles=args.slow_driver_cycles, slow_driver_above=args.slow_driver_above,
        sync_interval=args.sync_interval, db=args.db, address=args.address,
        conductor_base=args.conductor_address, dead_fraction=args.dead_fraction, flips=args.flips,
        api_users=args.api_users, api_seconds=args.api_seconds, profile_seconds=args.profile,
        options=_options(args), conductor_counts=tuple(dict.fromkeys(args.conductors)),
        per_host=args.per_host, rpc=args.rpc)


def settings(plan: runner.DensityPlan) -> dict[str, Any]:
    return {"sizes": plan.sizes, "drivers": list(plan.drivers), "cycles": plan.cycles,
            "warmup": plan.warmup, "slow_driver_cycles": plan.slow_driver_cycles,
            "slow_driver_above": plan.slow_driver_above, "sync_interval": plan.sync_interval,
            "db": plan.db, "dead_fraction": plan.dead_fraction, "flips": plan.flips,
            "api_users": plan.api_users, "api_seconds": plan.api_seconds,
            "profile_seconds": plan.profile_seconds, "options": plan.options, "work": str(plan.work),
            "conductors": list(plan.conductor_counts), "per_host": plan.per_host,
            "rpc": plan.rpc if plan.db != "sqlite" else "none",
            "argv": sys.argv[1:]}


def measure(args: argparse.Namespace, progress: Progress | None = None) -> dict[str, Any]:
    """Run the density test the parsed options ask for and return its result document, printing
    nothing on stdout: ``run_density`` saves and prints it, ``ironic-scale preflight`` compares it."""
    plan = plan_from(args)
    progress = progress or Progress()
    started = datetime.datetime.now().astimezone()
    progress.note(f"work directory (configs, logs, databases): {plan.work}")
    records = runner.run(plan, progress)
    return report.document(records, settings(plan), started)


def run_density(args: argparse.Namespace) -> int:
    json_path = args.json or results.default_json_path(datetime.datetime.now().astimezone(), kind="density")
    doc = measure(args)
    doc["plot"] = note = report.plot(doc, args.plot or results.sibling(json_path, ".png"))
    results.write(doc, json_path)
    print(report.render(doc))
    print(f"results: {json_path}")
    print(note)
    return 0
