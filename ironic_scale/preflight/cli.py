"""``ironic-scale preflight``: argparse and the checks of the input that need nothing to run.

Nothing here imports Ironic, oslo or tooz: ``ironic-scale`` must load (and print its help)
in a venv without them. The run itself is ``ironic_scale.preflight.run``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ironic_scale import argtypes

DESCRIPTION = """\
The benchmark suite to run before an upgrade, in the candidate environment (new Ironic or
new ironic-scale), ending in one report and an exit code:
  patches  the patch series fits the installed Ironic ('ironic-scale patches check')
  config   the config checker passes on the given configs ('ironic-scale check')
  bench    power-poll cost on the simulator (or read-only on real BMCs, --inventory),
           compared with the baseline as 'bench compare' does
  density  a small real Ironic syncing simulated nodes: CPU per node, cycle time and
           every node polled, compared with the baseline's matching rows
Save the baseline in the current production environment first (--save-baseline FILE);
with --baseline every setting not given is the baseline's own, so the rows match."""

EPILOG = """\
exit codes: 0 every check ok (skipped and not-available parts allowed), 1 a regression
past the threshold or a failed check, 2 bad input (missing or invalid baseline, bad options).

examples:
  ironic-scale preflight --save-baseline prod.json --config-file /etc/ironic/ironic.conf
  ironic-scale preflight --baseline prod.json --config-file /etc/ironic/ironic.conf
  ironic-scale preflight --baseline prod.json --format markdown --output preflight.md
  ironic-scale preflight --baseline results/bench-old.json   # a bench --json file: no density
  ironic-scale preflight --inventory bmcs.jsonl --save-baseline real.json   # real BMCs, read-only"""


def _threshold(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a threshold is a fraction of slowdown, not negative")
    return value


def add_preflight(sub: Any) -> None:
    from ironic_scale.bench.sweep import METHODS
    from ironic_scale.density.variants import NAMES

    p = sub.add_parser("preflight", help="before an upgrade: patches, config checks and benchmarks "
                                         "against a baseline, in one report",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    base = p.add_argument_group("baseline")
    base.add_argument("--baseline", metavar="FILE",
                      help="compare with this baseline: a --save-baseline file, or a bench or density "
                           "--json result")
    base.add_argument("--save-baseline", metavar="FILE",
                      help="write this run's bench and density results and environment as a baseline "
                           "(not written when a measured part failed)")
    base.add_argument("--threshold", type=_threshold, default=0.10, metavar="FRACTION",
                      help="allowed slowdown of any median figure, as a fraction (default 0.10, as "
                           "bench compare)")
    base.add_argument("--density-threshold", type=_threshold, metavar="FRACTION",
                      help="the same for density figures (default: --threshold); short cycles are noisy")
    conf = p.add_argument_group("config checks")
    conf.add_argument("--config-file", action="append", default=[], metavar="FILE",
                      help="one Ironic process's config files in order (repeat the option): checked as an "
                           "API service and a conductor that read them; their ring settings are used by "
                           "the density run")
    conf.add_argument("--api", action="append", default=[], metavar="FILE[,FILE...]",
                      help="more API services, as 'ironic-scale check --api' takes them")
    conf.add_argument("--conductor", action="append", default=[], metavar="FILE[,FILE...]",
                      help="more conductor processes, as 'ironic-scale check --conductor' takes them")
    bench = p.add_argument_group("bench")
    bench.add_argument("--skip-bench", action="store_true", help="leave the bench out")
    bench.add_argument("--sizes", type=argtypes.size_list, metavar="LIST",
                       help="simulated fleet sizes (default: the baseline's, else 1000)")
    bench.add_argument("--repeats", type=argtypes.positive_int, metavar="N",
                       help="sweeps per method (default: the baseline's, else 5)")
    bench.add_argument("--methods", type=argtypes.name_list(METHODS, "method"), metavar="LIST",
                       help="default: the baseline's, else native and native-interface (native alone "
                            "without Ironic or with --inventory)")
    bench.add_argument("--inventory", metavar="FILE",
                       help="poll these real BMCs READ-ONLY instead of the simulator (as 'bench "
                            "--inventory'); the density test is then skipped")
    bench.add_argument("--address", default="127.10.0.1", metavar="ADDRESS",
                       help="first loopback address of the simulated fleets (default 127.10.0.1)")
    density = p.add_argument_group("density")
    density.add_argument("--skip-density", action="store_true", help="leave the density test out")
    density.add_argument("--density-size", type=argtypes.positive_int, metavar="N",
                         help="nodes (default: the baseline's, else 100)")
    density.add_argument("--density-drivers", type=argtypes.name_list(NAMES, "driver"), metavar="LIST",
                         help=f"series from {', '.join(NAMES)} (default: the baseline's, else native-ipmi)")
    density.add_argument("--density-cycles", type=argtypes.positive_int, metavar="N",
                         help="measured sync cycles (default: the baseline's, else 5)")
    density.add_argument("--density-sync-interval", type=argtypes.positive_int, metavar="SECONDS",
                         help="[conductor]sync_power_state_interval (default: the baseline's, else 5)")
    density.add_argument("--db", choices=("sqlite", "postgresql", "mariadb"),
                         help="the density stack's database (default: the baseline's, else sqlite: the "
                              "all-in-one ironic)")
    density.add_argument("--conductor-address", default="127.100.0.1", metavar="ADDRESS",
                         help="the density conductor's loopback address (default 127.100.0.1)")
    out = p.add_argument_group("report")
    out.add_argument("--format", choices=("table", "markdown", "json"), default="table",
                     help="of the report on stdout, or in --output (default table)")
    out.add_argument("--output", metavar="FILE",
                     help="write the report (in --format) to FILE; the terminal table still goes to stdout")
    out.add_argument("--work", metavar="DIR",
                     help="raw bench/density results, stack configs and logs (default: a new temp dir)")
    p.set_defaults(func=run_preflight)


def _measures(args: argparse.Namespace) -> bool:
    return not args.skip_bench or not (args.skip_density or args.inventory)


def validate(args: argparse.Namespace) -> None:
    """Refuse, in one line, what cannot give a useful report: before anything runs."""
    if _measures(args) and not (args.baseline or args.save_baseline):
        raise ValueError("bench and density compare with a baseline: give --baseline FILE, or "
                         "--save-baseline FILE to record one here (or --skip-bench --skip-density)")
    if args.save_baseline and not _measures(args):
        raise ValueError("--save-baseline records bench and density results, and this run measures neither")
    if args.save_baseline:
        parent = os.path.dirname(os.path.abspath(args.save_baseline))
        if not os.path.isdir(parent):
            raise ValueError(f"--save-baseline {args.save_baseline}: no directory {parent}")
    files = [*args.config_file, *(f.strip() for spec in args.api + args.conductor for f in spec.split(","))]
    for f in files:
        if f and not os.path.isfile(f):
            raise ValueError(f"no such config file: {f}")
    if args.inventory and not os.path.isfile(args.inventory):
        raise ValueError(f"--inventory {args.inventory}: no such file")
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        raise ValueError(f"--output {args.output}: its directory does not exist")


def run_preflight(args: argparse.Namespace) -> int:
    from ironic_scale.preflight import run

    validate(args)
    return run.run(args)
