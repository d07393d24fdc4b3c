"""The one ``ironic-scale`` command; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence

from ironic_scale import argtypes, signals
from ironic_scale.sim.behaviour import Behaviour, Latency

# futurist warns on import whenever eventlet is installed (Ironic still pulls it in), which
# Ironic no longer uses: the warning says nothing to an operator and buries our one-line errors.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def _add_sim_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="serve a fleet of simulated BMCs until stopped",
                       description="Serve COUNT IPMI 2.0 BMCs over UDP on loopback. Prints one "
                                   "'ready:' line when every BMC listens, counters at exit.")
    p.add_argument("--count", type=argtypes.positive_int, default=100, help="number of BMCs (default 100)")
    p.add_argument("--address", default="127.1.0.1",
                   help="first loopback address; one BMC per address (default 127.1.0.1)")
    p.add_argument("--port", type=int, default=623, help="UDP port (default 623)")
    p.add_argument("--per-port", action="store_true",
                   help="put every BMC on --address, on consecutive ports from --port")
    p.add_argument("--username", default="admin")
    p.add_argument("--password", default="password")
    p.add_argument("--power", choices=("on", "off"), default="off", help="initial host power")
    p.add_argument("--latency", type=argtypes.latency, default=Latency(),
                   help="reply delay: 5ms, uniform:1ms:10ms, normal:20ms:5ms or exp:10ms")
    p.add_argument("--loss", type=argtypes.fraction, default=0.0, help="fraction of requests dropped")
    p.add_argument("--dead-fraction", type=argtypes.fraction, default=0.0,
                   help="fraction of BMCs that never answer (marked in the inventory)")
    p.add_argument("--slow-fraction", type=argtypes.fraction, default=0.0,
                   help="fraction of BMCs that answer after --slow-latency")
    p.add_argument("--slow-latency", type=argtypes.latency, default=Latency("fixed", 2.0))
    p.add_argument("--session-slots", type=argtypes.positive_int, default=8,
                   help="concurrent sessions a BMC allows (real BMCs: 4-15; default 8)")
    p.add_argument("--session-timeout", type=argtypes.duration, default=60.0,
                   help="idle time before a session is freed (default 60s)")
    p.add_argument("--settle", type=argtypes.duration, default=0.0,
                   help="time a power action takes to show in the status (default 0)")
    p.add_argument("--processes", type=argtypes.positive_int, default=None,
                   help="worker processes (default: as few as the open-files limit allows)")
    p.add_argument("--seed", type=int, default=0, help="seed for dead/slow picks, loss and jitter")
    p.add_argument("--run-dir", help="where sockets and the inventory go (default: a new temp dir)")
    p.add_argument("--inventory", help="inventory path (default RUN_DIR/inventory.jsonl)")
    p.add_argument("--control", help="control socket path (default RUN_DIR/control.sock)")
    p.add_argument("--duration", type=argtypes.duration, help="stop by itself after this long")
    p.add_argument("--counters-json", help="also write the final counters to this file")
    p.set_defaults(func=_sim_run)


def _sim_run(args: argparse.Namespace) -> int:
    from ironic_scale.sim import supervisor

    behaviour = Behaviour(latency=args.latency, loss=args.loss, session_slots=args.session_slots,
                          session_timeout=args.session_timeout, settle=args.settle)
    plan = supervisor.FleetPlan(
        count=args.count, base_address=args.address, port=args.port, per_port=args.per_port,
        username=args.username, password=args.password, power=args.power,
        dead_fraction=args.dead_fraction, slow_fraction=args.slow_fraction,
        behaviour=behaviour, slow_behaviour=dataclasses.replace(behaviour, latency=args.slow_latency),
        processes=args.processes, seed=args.seed)
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="ironic-scale-sim-")
    os.makedirs(run_dir, exist_ok=True)
    return supervisor.run(plan, run_dir,
                          args.inventory or os.path.join(run_dir, "inventory.jsonl"),
                          args.control or os.path.join(run_dir, "control.sock"),
                          args.duration, args.counters_json)


def _add_sim_ctl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ctl", help="read counters or inject faults into a running fleet")
    p.add_argument("--control", required=True, help="the fleet's control socket")
    p.add_argument("op", choices=("counters", "state", "slots", "requesters", "set", "power", "reboot",
                                  "stop"))
    p.add_argument("addresses", nargs="*",
                   help="BMCs as ADDRESS:PORT (none: every BMC, for set and reboot)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="for set: latency, loss, dead, session_slots, settle, session_timeout, "
                        "boot_flag_timeout, sdr_fault, reset_downtime, silent_cold_reset, boot_flags_byte1, "
                        "username, password")
    p.add_argument("--reset", action="store_true",
                   help="for slots: start new high-water marks after reading them; for "
                        "requesters: clear the counts per source address after reading them")
    p.add_argument("--summary", action="store_true",
                   help="for requesters: totals per source address only, no per-BMC detail")
    p.add_argument("--state", choices=("on", "off"), help="for power")
    p.add_argument("--downtime", type=argtypes.duration, default=0.0, help="for reboot")
    p.set_defaults(func=_sim_ctl)


def _sim_ctl(args: argparse.Namespace) -> int:
    from ironic_scale.sim.control import SimControl

    ctl = SimControl(args.control)
    targets = args.addresses or None
    if args.op == "counters":
        out = ctl.counters()
    elif args.op == "state":
        if len(args.addresses) != 1:
            raise ValueError("state takes exactly one ADDRESS:PORT")
        out = ctl.state(args.addresses[0])
    elif args.op == "slots":
        out = ctl.slots(targets, reset=args.reset)
    elif args.op == "requesters":
        out = ctl.requesters(targets, reset=args.reset, detail=not args.summary)
    elif args.op == "set":
        knobs = {}
        for kv in args.knob:
            name, sep, value = kv.partition("=")
            if not sep:
                raise ValueError(f"--knob {kv!r} is not NAME=VALUE")
            knobs[name] = value.lower() in ("1", "true", "yes") if name == "dead" else value
        out = {"changed": ctl.set(targets, **knobs)}
    elif args.op == "power":
        if not args.state or not targets:
            raise ValueError("power needs --state on|off and at least one ADDRESS:PORT")
        out = {"changed": ctl.power(targets, args.state)}
    elif args.op == "reboot":
        out = {"changed": ctl.reboot(targets, args.downtime)}
    else:
        out = ctl.stop()
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironic-scale", description="Tools for running OpenStack Ironic at 25,000 nodes.")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("sim", help="the BMC fleet simulator").add_subparsers(
        dest="sim_command", required=True)
    _add_sim_run(sim)
    _add_sim_ctl(sim)
    from ironic_scale.bench.cli import add_bench
    from ironic_scale.density.cli import add_density
    from ironic_scale.density.rebalance_cli import add_rebalance
    from ironic_scale.fleet.cli import add_fleet
    from ironic_scale.patches.cli import add_patches
    from ironic_scale.preflight.cli import add_preflight
    from ironic_scale.sharding.check_cli import add_check
    from ironic_scale.sharding.conductors_cli import add_conductors
    from ironic_scale.sharding.ring_cli import add_ring
    from ironic_scale.stack.cli import add_stack

    add_bench(sub)
    add_stack(sub)
    add_density(sub)
    add_rebalance(sub)
    add_patches(sub)
    add_ring(sub)
    add_conductors(sub)
    add_check(sub)
    add_fleet(sub)
    add_preflight(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ironic_scale.density.cycles import CycleTimeout
    from ironic_scale.density.patched import PatchedIronicUnavailable
    from ironic_scale.sim.control import ControlError
    from ironic_scale.sim.fleet import StartupError
    from ironic_scale.sim.launcher import FleetFailed
    from ironic_scale.stack.config import DeployDirMissing
    from ironic_scale.stack.enroll import EnrollFailed
    from ironic_scale.stack.mariadb import MariaDBUnavailable
    from ironic_scale.stack.postgres import PostgresUnavailable
    from ironic_scale.stack.processes import StackFailed
    from ironic_scale.stack.rabbitmq import RabbitMQUnavailable

    # SIGTERM unwinds like Ctrl-C, so the simulators and Ironic processes we started are stopped.
    signals.install()
    try:
        return args.func(args)
    except (StartupError, ControlError, FleetFailed, StackFailed, EnrollFailed, PostgresUnavailable,
            MariaDBUnavailable, RabbitMQUnavailable, DeployDirMissing, CycleTimeout,
            PatchedIronicUnavailable, ValueError, OSError) as e:
        print(f"ironic-scale {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
