"""``ironic-scale rebalance``: stop, kill or add one conductor of a real Ironic and measure the move."""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

from ironic_scale import argtypes
from ironic_scale.bench import results
from ironic_scale.bench.progress import Progress
from ironic_scale.density import rebalance
from ironic_scale.density.cli import _options


def add_rebalance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rebalance", help="stop, kill or add a conductor; measure how its nodes and BMC sessions move",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a simulated fleet and a real Ironic 39 (API + N conductors, each sending its "
                    "IPMI traffic from its own loopback address), enroll one native-ipmi node per BMC, wait "
                    "until every node is polled by its predicted owner alone, then at t0 stop one conductor "
                    "(SIGTERM), kill it (SIGKILL) or add one. The simulator tells who polled which BMC and "
                    "who holds its sessions. Reports: moved nodes against Ironic's ring prediction, time "
                    "until each moved node is first polled by its new owner against Ironic's bounds, double "
                    "or wrong polling over one sync interval after the ring settled, and when the old owner "
                    "stopped holding BMC session slots. Progress on stderr; JSON and text results.",
        epilog="examples:\n"
               "  ironic-scale rebalance --event stop --nodes 30 --sync-interval 10 \\\n"
               "      --set conductor.heartbeat_timeout=10 --set DEFAULT.hash_ring_reset_interval=5\n"
               "  ironic-scale rebalance --event kill --nodes 1000 --conductors 4 --json results/r.json")
    p.add_argument("--event", required=True, choices=rebalance.EVENTS,
                   help="stop: SIGTERM one conductor; kill: SIGKILL it; add: start one more")
    p.add_argument("--conductors", type=argtypes.positive_int, default=3,
                   help="conductors before the event (default 3)")
    p.add_argument("--per-host", type=argtypes.positive_int, default=1, help="conductors per host address")
    p.add_argument("--nodes", type=argtypes.positive_int, default=30, help="BMCs and nodes (default 30)")
    p.add_argument("--db", choices=("postgresql", "mariadb"), default="postgresql")
    p.add_argument("--rpc", choices=("json-rpc", "rabbit"), default="json-rpc")
    p.add_argument("--sync-interval", type=argtypes.positive_int, default=60,
                   help="[conductor]sync_power_state_interval in s (default 60)")
    p.add_argument("--session-timeout", type=argtypes.duration, default=20.0,
                   help="the simulated BMCs' idle session timeout (default 20s)")
    p.add_argument("--idle-timeout", type=argtypes.duration, default=0.0,
                   help="[native_ipmi]idle_timeout (default: what the driver derives, "
                        "max(60 s, 2.5 x the sync interval))")
    p.add_argument("--victim",
                   help="conductor to stop or kill: process or registered name (default the first)")
    p.add_argument("--address", default="127.128.0.1", help="first simulator address (default 127.128.0.1)")
    p.add_argument("--conductor-address", default="127.129.0.1",
                   help="first conductor host address (default 127.129.0.1)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra ironic.conf setting, e.g. conductor.heartbeat_timeout=20")
    p.add_argument("--work", help="work directory (default: a new one under /tmp); logs are kept there")
    p.add_argument("--json", help="result file (default results/rebalance-<event>-<timestamp>.json); "
                                  "the text report goes next to it (.txt)")
    p.set_defaults(func=run_rebalance, max_retries=None)


def run_rebalance(args: argparse.Namespace) -> int:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ironic-scale-rebalance-"))
    plan = rebalance.Plan(event=args.event, work=work, conductors=args.conductors, per_host=args.per_host,
                          nodes=args.nodes, db=args.db, rpc=args.rpc, sync_interval=args.sync_interval,
                          session_timeout=args.session_timeout, idle_timeout=args.idle_timeout,
                          address=args.address, conductor_base=args.conductor_address, victim=args.victim,
                          options=_options(args))
    started = datetime.datetime.now().astimezone()
    json_path = args.json or results.default_json_path(started, kind=f"rebalance-{args.event}")
    progress = Progress()
    progress.note(f"work directory (configs, logs): {work}")
    result = rebalance.run(plan, progress)
    doc = {"tool": "ironic-scale rebalance", "started": started.isoformat(timespec="seconds"),
           "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "versions": results.versions(), "machine": results.machine(),
           "settings": {"event": plan.event, "conductors": plan.conductors, "per_host": plan.per_host,
                        "nodes": plan.nodes, "db": plan.db, "rpc": plan.rpc,
                        "sync_interval": plan.sync_interval, "session_timeout": plan.session_timeout,
                        "idle_timeout": plan.idle_timeout, "options": plan.ironic_options(),
                        "work": str(work), "argv": sys.argv[1:]},
           "result": result}
    doc["verdicts"] = rebalance.verdicts(result)
    text = rebalance.render(doc)
    results.write(doc, json_path)
    txt = results.sibling(json_path, ".txt")
    Path(txt).write_text(text + "\n")
    print(text)
    print(f"results: {json_path} {txt}")
    return 0 if all(v is not False for k, v in doc["verdicts"].items()
                    if k != "at_most_one_slot_per_bmc_once_settled") else 1
