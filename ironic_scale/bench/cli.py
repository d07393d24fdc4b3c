"""``ironic-scale bench``: argparse and the order of things (run, save, print, plot).

``ironic-scale bench [options]`` runs the comparison; ``ironic-scale bench
compare OLD NEW`` compares two result files. ``compare`` is an optional
sub-command of ``bench`` so that bare ``ironic-scale bench`` keeps working.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import shutil
import sys
import warnings
from typing import Any

from ironic_scale import argtypes
from ironic_scale.bench import report, results, runner
from ironic_scale.bench.compare import add_compare
from ironic_scale.bench.faults import FaultSettings, fault_list
from ironic_scale.bench.progress import Progress
from ironic_scale.bench.sweep import FORKED, METHODS, READ_ONLY_METHODS, SweepOptions

DEFAULT_SIZE = 200


def _latency(text: str) -> str:
    """Checked like ``sim run --latency``, kept as text: it is passed on to the simulator."""
    argtypes.latency(text)
    return text


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="measure power-poll cost against ipmitool and ipmipower",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a simulated fleet on loopback (one per size and fault mix), poll every "
                    "BMC once per method and repeat,\nand print medians (min-max) with ratios "
                    "measured in the same run. Saves a JSON result and a PNG plot.\n"
                    "With --inventory, polls real BMCs read-only instead (no simulator).",
        epilog="examples:\n"
               "  ironic-scale bench                                  # 200 BMCs, ~1 minute\n"
               "  ironic-scale bench --sizes 100,1000,5000,25000 --repeats 3\n"
               "  ironic-scale bench --sizes 1000 --faults none,dead,loss,latency,all\n"
               "  ironic-scale bench --faults loss10,loss30 --methods ipmitool,native  # slots, success\n"
               "  ironic-scale bench --inventory bmcs.jsonl --methods ipmipower,native\n"
               "  ironic-scale bench compare results/old.json results/new.json --threshold 0.1")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--sizes", type=argtypes.size_list,
                      help=f"fleet sizes to sweep, e.g. 100,1000,5000,25000 (default {DEFAULT_SIZE})")
    size.add_argument("--count", type=argtypes.positive_int, help="one fleet size (same as --sizes N)")
    p.add_argument("--methods", type=argtypes.name_list(METHODS, "method"),
                   help=f"comma-separated, from {', '.join(METHODS)} (default: all; with "
                        f"--inventory: {', '.join(READ_ONLY_METHODS)})")
    p.add_argument("--repeats", type=argtypes.positive_int, default=3, help="sweeps per method (default 3)")
    p.add_argument("--ipmitool-max-repeats", type=argtypes.positive_int, metavar="N",
                   help="at most N ipmitool sweeps per size (default: 1 above "
                        f"{runner.LARGE_FLEET} BMCs, else --repeats); ipmitool costs ~29 ms "
                        "CPU per node")
    p.add_argument("--faults", type=fault_list,
                   help="fault mixes, each on its own fleet: none, dead (--dead-fraction BMCs "
                        "never answer), loss (--loss of requests dropped), lossNN (NN %% of "
                        "requests dropped, e.g. loss10,loss30: several rates in one run), "
                        "latency (--latency per reply), all (dead, loss and latency together); "
                        "default none. Every table shows each method's session slots held per "
                        "BMC (max) and success %% (answered / polled)")
    p.add_argument("--dead-fraction", type=argtypes.fraction, default=0.01,
                   help="for dead/all: fraction of dead BMCs (default 0.01)")
    p.add_argument("--loss", type=argtypes.fraction, default=0.05,
                   help="for loss/all: fraction of requests dropped (default 0.05)")
    p.add_argument("--latency", type=_latency, default="200ms",
                   help="for latency/all: reply delay in the simulator's syntax (default 200ms)")
    p.add_argument("--session-slots", type=argtypes.positive_int, metavar="N",
                   help="concurrent sessions each simulated BMC allows (default: the "
                        "simulator's 8; real BMCs: 4-15); logins beyond it are refused")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="per-node deadline for native (default 10) and ipmipower (--session-"
                        "timeout, default its own 20); ipmitool keeps Ironic's -R 7 -N 5")
    p.add_argument("--address", default="127.10.0.1", help="first simulator address (loopback)")
    p.add_argument("--inventory", metavar="FILE",
                   help="poll these BMCs (JSON lines: address, port, username, password) "
                        "READ-ONLY: no simulator; only Get Chassis Status and Get Device ID "
                        "are sent, and forked tools only run 'power status' / '--stat'")
    p.add_argument("--json", metavar="PATH",
                   help="result file (default results/bench-<timestamp>.json)")
    p.add_argument("--plot", metavar="PATH", help="PNG plot (default: next to the JSON file)")
    p.add_argument("--profile", nargs="?", const="", metavar="SVG",
                   help="also record a py-spy flame graph of native sweeps (default path: "
                        "next to the JSON file)")
    p.set_defaults(func=run_bench)
    bench_sub = p.add_subparsers(dest="bench_command", metavar="[compare]",
                                 title="sub-command (optional)")
    add_compare(bench_sub)


def _default_methods() -> list[str]:
    """Every method; native-interface only where Ironic is installed (it loads the driver)."""
    if importlib.util.find_spec("ironic") is not None:
        return list(METHODS)
    print("bench: Ironic is not installed in this Python, so native-interface is left out "
          "(pip install ironic-scale[test], or into the conductor's venv)", file=sys.stderr)
    return [m for m in METHODS if m != "native-interface"]


def _check_tools(methods: list[str]) -> None:
    if "native-interface" in methods and importlib.util.find_spec("ironic") is None:
        raise ValueError("native-interface needs Ironic installed in this Python: run the bench "
                         "in the conductor's venv, or leave native-interface out of --methods")
    for m in methods:
        if m in FORKED and shutil.which(FORKED[m]) is None:
            raise ValueError(f"{FORKED[m]} is not installed: run deploy/install-tools.sh "
                             f"or leave {m} out of --methods")


def plan_from(args: argparse.Namespace) -> runner.Plan:
    """The run the parsed options ask for; a ValueError (one line) for options that conflict."""
    options = SweepOptions(timeout=args.timeout)
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError("--timeout must be positive")
    if args.inventory:
        from ironic_scale.sim import inventory

        if args.sizes or args.count or args.faults not in (None, ["none"]) or args.session_slots:
            raise ValueError("--inventory fixes the fleet: leave out --sizes, --count, --faults "
                             "and --session-slots")
        methods = args.methods or list(READ_ONLY_METHODS)
        refused = [m for m in methods if m not in READ_ONLY_METHODS]
        if refused:
            raise ValueError(f"{', '.join(refused)} cannot run against real BMCs (it does not go "
                             f"through the read-only guard); use {', '.join(READ_ONLY_METHODS)}")
        endpoints = inventory.read(args.inventory)
        if not endpoints:
            raise ValueError(f"{args.inventory} lists no BMC")
        return runner.Plan([len(endpoints)], ["none"], methods, args.repeats,
                           ipmitool_max_repeats=args.ipmitool_max_repeats, options=options,
                           inventory=endpoints)
    sizes = args.sizes or [args.count or DEFAULT_SIZE]
    return runner.Plan(
        list(dict.fromkeys(sizes)), args.faults or ["none"], args.methods or _default_methods(),
        args.repeats, address=args.address, ipmitool_max_repeats=args.ipmitool_max_repeats,
        fault_settings=FaultSettings(args.dead_fraction, args.loss, args.latency), options=options,
        session_slots=args.session_slots)


def _settings(args: argparse.Namespace, plan: runner.Plan) -> dict[str, Any]:
    raw = {k: v for k, v in vars(args).items() if k not in ("func", "bench_command")}
    return {**raw, "sizes": plan.sizes, "faults": plan.faults, "methods": plan.methods,
            "ipmitool_repeats": {n: plan.repeats_for("ipmitool", n) for n in plan.sizes},
            "argv": sys.argv[1:]}


def measure(args: argparse.Namespace, plan: runner.Plan | None = None,
            progress: Progress | None = None) -> tuple[dict[str, Any], runner.Outcome]:
    """Run the bench the parsed options ask for and return its result document, printing
    nothing on stdout: ``run_bench`` saves and prints it, ``ironic-scale preflight`` compares it."""
    plan = plan or plan_from(args)
    _check_tools(plan.methods)
    started = datetime.datetime.now().astimezone()
    outcome = runner.run(plan, progress or Progress())
    doc = results.document(outcome, _settings(args, plan),
                           "inventory" if plan.inventory is not None else "simulator",
                           started, datetime.datetime.now().astimezone())
    return doc, outcome


def run_bench(args: argparse.Namespace) -> int:
    # futurist imports eventlet when it is installed (Ironic's test extras pull it in).
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    plan = plan_from(args)
    json_path = args.json or results.default_json_path(datetime.datetime.now().astimezone())
    profile_path = None
    if args.profile is not None:
        from ironic_scale.bench.profile import profile_native

        profile_path = args.profile or results.sibling(json_path, "-native.svg")
        plan.profile = lambda endpoints: profile_native(endpoints, profile_path, plan.options)
    doc, outcome = measure(args, plan)
    from ironic_scale.bench.plot import plot

    doc["plot"] = plot_note = plot(doc, args.plot or results.sibling(json_path, ".png"))
    results.write(doc, json_path)
    print(report.render(doc))
    print(f"results: {json_path}")
    print(plot_note)
    if outcome.profile is not None:
        p = outcome.profile
        print(f"profile: {p['path']} ({p['sweeps']} native sweeps of {p['nodes']} BMCs in "
              f"{p['seconds']} s, {p['samples']} samples)" if p["path"]
              else f"profile skipped: {p['error']}")
    if doc["correctness_failures"] or doc["write_requests_seen"]:
        return 1
    return 130 if outcome.interrupted else 0
