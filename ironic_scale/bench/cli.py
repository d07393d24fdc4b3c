"""``ironic-scale bench``: start a simulated fleet, poll it with each method, print a table."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys

from ironic_scale.bench.sweep import METHODS, SweepResult, sweep
from ironic_scale.sim.launcher import start_fleet

TOOLS = {"ipmitool": "ipmitool", "ipmipower": "ipmipower"}


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure power-poll cost against ipmitool and ipmipower",
                       description="Start a simulated fleet on loopback, poll every BMC once per "
                                   "method and repeat, and print medians with ratios measured "
                                   "in the same run.")
    p.add_argument("--count", type=int, default=200, help="simulated BMCs (default 200)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--repeats", type=int, default=3, help="sweeps per method (default 3)")
    p.add_argument("--address", default="127.10.0.1", help="first simulator address")
    p.add_argument("--json", help="write the results to this file")
    p.set_defaults(func=run_bench)


def _median(results: list[SweepResult], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results)


def format_table(by_method: dict[str, list[SweepResult]]) -> str:
    base = by_method.get("ipmitool")
    base_cpu = _median(base, "cpu_ms_per_node") if base else None
    head = (f"{'method':<17} {'nodes':>6} {'failed':>6} {'wrong':>5} {'sweep s':>8} "
            f"{'CPU ms/node (min-max)':>24} {'ipmitool/this':>14}")
    lines = [head, "-" * len(head)]
    for method, results in by_method.items():
        cpu = _median(results, "cpu_ms_per_node")
        lo = min(r.cpu_ms_per_node for r in results)
        hi = max(r.cpu_ms_per_node for r in results)
        ratio = f"{base_cpu / cpu:.0f}x" if base_cpu and cpu else "-"
        lines.append(
            f"{method:<17} {results[0].nodes:>6} {max(r.failed for r in results):>6} "
            f"{max(r.wrong for r in results):>5} {_median(results, 'wall_seconds'):>8.2f} "
            f"{f'{cpu:.3f} ({lo:.3f}-{hi:.3f})':>24} {ratio:>14}")
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}: choose from {', '.join(METHODS)}")
        if m in TOOLS and shutil.which(TOOLS[m]) is None:
            raise ValueError(f"{TOOLS[m]} is not installed: run deploy/install-tools.sh")
    if args.count < 1 or args.repeats < 1:
        raise ValueError("--count and --repeats must be at least 1")
    print(f"starting {args.count} simulated BMCs on loopback...", file=sys.stderr)
    with start_fleet(args.count, ("--address", args.address)) as fleet:
        on = [e.key for e in fleet.endpoints[::2]]  # half the hosts on, half off
        fleet.control.power(on, "on")
        expected = {e.key: "off" for e in fleet.endpoints} | dict.fromkeys(on, "on")
        by_method: dict[str, list[SweepResult]] = {m: [] for m in methods}
        for i in range(args.repeats):
            for m in methods:
                print(f"  sweep {i + 1}/{args.repeats}: {m}", file=sys.stderr)
                by_method[m].append(sweep(m, fleet.endpoints, expected))
    print(format_table(by_method))
    print("CPU is the client's (children included); medians of "
          f"{args.repeats} sweeps; the simulator runs in its own processes.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({m: [vars(r) for r in rs] for m, rs in by_method.items()}, f, indent=1)
    return 0
