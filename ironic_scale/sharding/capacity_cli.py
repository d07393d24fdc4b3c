"""``ironic-scale conductors capacity``: processes and hosts for N nodes, from a density or bench JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ironic_scale import argtypes
from ironic_scale.sharding.capacity import CapacityError, Fleet, load_measurement, plan_capacity
from ironic_scale.sharding.table import render_table


def add_capacity(conductors: argparse._SubParsersAction) -> None:
    p = conductors.add_parser(
        "capacity", help="conductor processes and hosts a fleet needs, from measured per-node cost",
        description="The busiest process must sync its nodes within --budget of one core per "
                    "--sync-interval after the worst host is lost; its load comes from the real ring.")
    p.add_argument("--measured", required=True, type=Path,
                   help="an `ironic-scale density --json` (or `bench --json`) result")
    p.add_argument("--method", help="which measured series (default: the cheapest at the largest size)")
    p.add_argument("--nodes", required=True, type=argtypes.size_list,
                   help="fleet sizes, e.g. 25000,100000,250000")
    p.add_argument("--sync-interval", type=argtypes.positive_int, default=60,
                   help="[conductor]sync_power_state_interval in seconds (default 60)")
    p.add_argument("--budget", type=argtypes.fraction, default=0.5,
                   help="share of one core per interval the power sync may use (default 0.5)")
    p.add_argument("--per-host", type=argtypes.positive_int, default=2,
                   help="conductor processes per host (default 2: one per core of a 2-core host)")
    p.add_argument("--exponent", type=int, default=5, help="hash_partition_exponent (default 5)")
    p.add_argument("--algorithm", default="md5", help="hash_ring_algorithm (default md5)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=_capacity)


def _capacity(args: argparse.Namespace) -> int:
    try:
        measured = load_measurement(args.measured, args.method)
        answers = [plan_capacity(Fleet(n, args.sync_interval, args.budget, args.per_host, args.exponent,
                                       args.algorithm), measured) for n in args.nodes]
    except CapacityError as e:
        print(f"ironic-scale conductors capacity: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"measured": {"source": measured.source, "method": measured.method,
                                       "size": measured.size, "cpu_ms_per_node": measured.cpu_ms_per_node},
                          "answers": [a.to_dict() for a in answers]}, indent=2))
        return 0

    def mib(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    print(f"{measured.method}: {measured.cpu_ms_per_node:.3f} ms of conductor CPU per node per cycle "
          f"(measured at {measured.size} nodes, {measured.source}); sync interval {args.sync_interval} s, "
          f"budget {args.budget:.0%} of a core, {args.per_host} processes per host, exponent {args.exponent}")
    print(render_table(
        ("nodes", "nodes/process max", "processes", "hosts", "busiest", "busiest, host lost", "max/mean",
         "cycle CPU s", "conductor MiB", "API worker MiB", "host MiB"),
        [(a.nodes, a.capacity_per_process, a.processes, a.hosts, a.busiest_nodes, a.busiest_after_host_loss,
          f"{a.max_over_mean:.2f}", f"{a.busiest_cycle_cpu_s:.1f}", mib(a.conductor_rss_mib),
          mib(a.api_worker_rss_mib), mib(a.host_rss_mib)) for a in answers]))
    print("Memory is a straight line through the measured sizes (a conductor's RSS fitted against the whole "
          "fleet, which every conductor scans), so beyond the largest measured size it is an estimate.")
    return 0
