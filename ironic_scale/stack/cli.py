"""``ironic-scale stack``: bring a real Ironic up on loopback, enroll simulated nodes, stop it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ironic_scale import argtypes
from ironic_scale.stack import enroll
from ironic_scale.stack.processes import DATABASES, RPCS, Stack, StackSpec


def add_stack(sub: argparse._SubParsersAction) -> None:
    stack = sub.add_parser(
        "stack", help="a real Ironic on loopback for tests and density runs",
        description="Config comes from deploy/stack/ironic.conf (plus deploy/stack/local.conf when "
                    "present). State, configs and logs live in --work.").add_subparsers(
        dest="stack_command", required=True)
    up = stack.add_parser("up", help="start Ironic and wait until every conductor is alive")
    up.add_argument("--work", required=True, help="work directory for this stack")
    up.add_argument("--conductors", type=argtypes.positive_int, default=1,
                    help="ironic-conductor processes in all; alone: one per host address "
                         "(more than one needs --db postgresql or mariadb)")
    up.add_argument("--hosts", type=argtypes.positive_int, default=0,
                    help="loopback host addresses the conductors run on, from --conductor-address "
                         "(default: --conductors / --per-host)")
    up.add_argument("--per-host", type=argtypes.positive_int, default=1,
                    help="conductors per host address (json-rpc: consecutive ports, named host:port "
                         "unless 8089; rabbit: host, host-2, ...)")
    up.add_argument("--db", choices=DATABASES, default="sqlite",
                    help="sqlite: all-in-one `ironic`; postgresql (Debian's cluster) or mariadb (a "
                         "private server in --work): ironic-api + conductors")
    up.add_argument("--rpc", choices=RPCS, default="json-rpc",
                    help="json-rpc, or rabbit: oslo.messaging over a private RabbitMQ in --work")
    up.add_argument("--json-rpc-port", type=int, default=0,
                    help="first [json_rpc]port on every host address (default: 8089 when free, "
                         "else a free port)")
    up.add_argument("--sync-interval", type=argtypes.positive_int, default=60,
                    help="[conductor]sync_power_state_interval (default 60)")
    up.add_argument("--conductor-address", default="127.100.0.1",
                    help="first conductor's loopback address; the others follow it")
    up.add_argument("--api-port", type=int, default=6385)
    up.add_argument("--deploy-dir", help="directory holding stack/ironic.conf (default ./deploy)")
    up.set_defaults(func=_up)
    for name, func, text in (("down", _down, "stop every process of the stack (SIGTERM, then SIGKILL)"),
                             ("status", _status, "which processes run, and the alive conductors")):
        p = stack.add_parser(name, help=text)
        p.add_argument("--work", required=True)
        p.set_defaults(func=func)
        if name == "down":
            p.add_argument("--drop-db", action="store_true",
                           help="also drop the stack's database (PostgreSQL's, or MariaDB's data directory; "
                     "kept by default for inspection)")
    en = stack.add_parser("enroll", help="write one `available` node per simulated BMC (object layer)")
    en.add_argument("--work", required=True)
    en.add_argument("--inventory", required=True, help="the simulator's inventory.jsonl")
    en.add_argument("--driver", choices=("ipmi", "native-ipmi"), default="native-ipmi")
    en.add_argument("--limit", type=argtypes.positive_int)
    en.set_defaults(func=_enroll)
    sd = stack.add_parser("set-driver", help="move every unlocked node to a driver, in bulk")
    sd.add_argument("--work", required=True)
    sd.add_argument("--driver", choices=("ipmi", "native-ipmi"), required=True)
    sd.set_defaults(func=_set_driver)


def _up(args: argparse.Namespace) -> int:
    spec = StackSpec(work=Path(args.work), conductors=args.conductors, db=args.db, rpc=args.rpc,
                     hosts=args.hosts, per_host=args.per_host, json_rpc_port=args.json_rpc_port,
                     sync_interval=args.sync_interval, conductor_base=args.conductor_address,
                     api_port=args.api_port, deploy_dir=Path(args.deploy_dir) if args.deploy_dir else None)
    stack = Stack(spec)
    state = stack.start()  # processes run in their own sessions and outlive this command
    print(json.dumps({"url": state.url, "db": state.db, "rpc": state.rpc, "seconds": state.seconds,
                      "processes": {p.name: p.pid for p in state.processes},
                      "conductors": {p.name: p.registered_name for p in stack.conductors}}))
    return 0


def _down(args: argparse.Namespace) -> int:
    stack = Stack.attach(Path(args.work))
    stack.stop()
    if args.drop_db:
        stack.drop_database()
    return 0


def _status(args: argparse.Namespace) -> int:
    stack = Stack.attach(Path(args.work))
    running = stack.running()
    out: dict = {"url": stack.state.url, "running": running}
    if any(running.values()):
        try:
            out["alive_conductors"] = stack.client.alive_conductors()
        except OSError as e:
            out["api_error"] = str(e)
    print(json.dumps(out))
    return 0 if running and all(running.values()) else 1


def _enroll(args: argparse.Namespace) -> int:
    stack = Stack.attach(Path(args.work))
    print(json.dumps(enroll.run_enroll(stack.config_files(), Path(args.inventory), args.driver, args.limit)))
    return 0


def _set_driver(args: argparse.Namespace) -> int:
    stack = Stack.attach(Path(args.work))
    print(json.dumps(enroll.run_set_driver(stack.config_files(), args.driver)))
    return 0
