"""``ironic-scale fleet import INVENTORY``: enroll a fleet, then provide idle machines and adopt running ones.

Only the parser's needs are imported at module level: it must load without openstacksdk,
oslo or Ironic (``tests/unit/test_cli_without_ironic.py``); the work is imported when it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ironic_scale import argtypes
from ironic_scale.fleet.connection import add_connection_args
from ironic_scale.fleet.inventory_fields import DRIVERS

DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT = 1800.0
API_CONNECTIONS = 8  # requests in flight at once (see _tune)

DESCRIPTION = """\
Create one Ironic node per inventory row, through Ironic's REST API:
enroll (driver_info ipmi_address/ipmi_port/ipmi_username/ipmi_password, properties,
resource_class, conductor_group), create its ports (MACs), manage (Ironic reads the power
state: this checks the BMC credentials), then
  - idle machines (running=false): provide -> available. If the cloud cleans
    ([conductor]automated_clean, or the row's automated_clean), cleaning boots the machine
    into the IPA ramdisk and wipes its disks: power and boot-device changes on that machine.
  - running machines (running=true): adopt -> active. No deploy, no power action, no
    boot-device change, no reboot: the workload keeps running.

The whole file is checked first, then against Ironic (a live conductor for the row's hardware
type and conductor group, no MAC on another node); any bad row (its line, field and why are
listed) means nothing is created, unless --skip-invalid. Inventory: CSV with a header line, or JSON lines.
Fields: address, port (623), username, password, macs (list; in CSV separated by spaces or
';'), name (default node-<address>-<port>), resource_class, properties (JSON object) and/or
cpus, memory_mb, local_gb, cpu_arch, running (true/false; without it the simulator's
power "on"/"off" says), conductor_group, driver, automated_clean. Ironic's names are
accepted too (ipmi_address, ipmi_port, ipmi_username, ipmi_password).

Every step is journaled (--journal): an interrupted import resumes where it stopped, a
finished one re-runs as a no-op, failed nodes are retried from where they stopped. A node
of the same name that this import did not create is never touched (a conflict).
Exit status: 0 every row ended where the inventory wants it, 1 some did not (failed,
conflict, skipped), 2 bad input (nothing created), 130 interrupted."""


def add_import(fsub: Any) -> None:
    p = fsub.add_parser("import", help="enroll, manage, provide or adopt the nodes of an inventory file",
                        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY", help="CSV or JSON-lines file, one machine per row")
    p.add_argument("--driver", choices=DRIVERS, default="ipmi",
                   help="hardware type of rows without a driver field (default ipmi)")
    p.add_argument("--concurrency", type=argtypes.positive_int, default=DEFAULT_CONCURRENCY,
                   help=f"nodes in flight at once (default {DEFAULT_CONCURRENCY}); most of a node's time "
                        "is waiting for Ironic, polled every 2 s")
    p.add_argument("--timeout", type=argtypes.duration, default=DEFAULT_TIMEOUT,
                   help="seconds one node may take for one state change (default 1800); a node past "
                        "it is reported, and a re-run picks it up where Ironic has got to")
    p.add_argument("--no-automated-clean", action="store_true",
                   help="set automated_clean=false on idle nodes whose row does not set it: provide "
                        "then makes them available without cleaning (no ramdisk boot, no disk wipe, "
                        "no power action)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and report the invalid ones (default: import nothing)")
    p.add_argument("--journal", metavar="PATH",
                   help="per-node journal that makes a re-run resume (default INVENTORY.import-journal)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--dry-run", action="store_true",
                   help="check the inventory against Ironic and say what would be done; change nothing")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_connection_args(p)
    p.set_defaults(func=run_import)


def _tune(conn: Any, workers: int) -> None:
    """Fit the connection to ``workers`` threads sharing it.

    At most ``API_CONNECTIONS`` requests at a time, on kept-alive connections, whatever the
    number of workers (most of a worker's time is the waiter's sleep): Ironic's standalone API
    server (cheroot) serves 10 requests at once and keeps 10 connections alive, resetting the
    others, and more concurrent writes only queue on its database. Retry a request whose
    connection failed (keystoneauth's ``connect_retries``, unless clouds.yaml sets one); a
    create or state change that went through before its connection broke is recognised on the
    retry (the node's UUID is ours, the port's MAC is on our node, the node is where the verb
    leads).
    """
    from requests.adapters import HTTPAdapter

    session = getattr(getattr(conn, "session", None), "session", None)
    if session is not None:
        size = min(workers, API_CONNECTIONS)
        for prefix in ("http://", "https://"):
            session.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=size, pool_block=True))
    if getattr(conn.baremetal, "connect_retries", None) is None:
        conn.baremetal.connect_retries = 3


def _invalid_results(problems: list[Any]) -> list[Any]:
    from ironic_scale.fleet import importer as imp

    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(p.line, []).append(f"{p.field}: {p.message}")
    return [imp.Result(f"(line {line})", line, imp.INVALID, reason="; ".join(msgs))
            for line, msgs in sorted(by_line.items())]


def _checked(args: argparse.Namespace, path: Path, started: float) -> tuple[Any, Any, dict[str, Any]]:
    """The inventory with its bad rows left out (or FleetError: exit 2), the connection, and
    Ironic's nodes by name (``import_api.observe_all``).

    The file is checked first, and a bad file refused without a cloud; then what only the cloud
    can say (a hardware type or conductor group no live conductor serves).
    """
    from ironic_scale.fleet import import_api as api
    from ironic_scale.fleet import import_report as report
    from ironic_scale.fleet import inventory
    from ironic_scale.fleet.connection import connect
    from ironic_scale.fleet.errors import FleetError

    inv = inventory.read(path, default_driver=args.driver)
    conn, seen = None, {}
    if not inv.problems or args.skip_invalid:
        conn = connect(args)
        _tune(conn, args.concurrency)
        seen = api.observe_all(conn)
        inv.problems = sorted([*inv.problems, *api.check_cloud(conn, inv.nodes, seen)], key=lambda p: p.line)
        bad = set(inv.bad_lines)
        inv.nodes = [n for n in inv.nodes if n.line not in bad]
    if inv.problems:
        for p in inv.problems:
            print(f"{path}:{p.line}: {p.field}: {p.message}", file=sys.stderr)
        lines = len(inv.bad_lines)
        if not args.skip_invalid:
            if args.json:
                report.write_json(args.json, path, _invalid_results(inv.problems), inv.problems,
                                  time.monotonic() - started, dry_run=args.dry_run)
            raise FleetError(f"{lines} of {inv.rows} rows of {path} are invalid (listed above); nothing was "
                             "created. Fix them, or pass --skip-invalid to import the other rows")
        print(f"skipping {lines} invalid rows (--skip-invalid)", file=sys.stderr)
    return inv, conn, seen


def run_import(args: argparse.Namespace) -> int:
    """Check, then import: the summary table, ``--json``, and the exit status DESCRIPTION gives."""
    from ironic_scale.fleet import import_report as report
    from ironic_scale.fleet import importer as imp
    from ironic_scale.fleet.journal import Journal
    from ironic_scale.fleet.progress import Bar

    started = time.monotonic()
    path = Path(args.inventory)
    inv, conn, seen = _checked(args, path, started)

    journal_path = Path(args.journal or f"{path}.import-journal")
    journal = None  # a dry run reads a journal that exists and creates none
    if not args.dry_run or journal_path.exists():
        journal = Journal(journal_path, "import", {"inventory": str(path.resolve())})
    skipped = _invalid_results(inv.problems)
    if args.dry_run:
        return _dry_run(args, inv, seen, journal, skipped, started)

    importer = imp.Importer(conn, journal, imp.Options(
        timeout=args.timeout, concurrency=args.concurrency, no_automated_clean=args.no_automated_clean))
    running = sum(n.running for n in inv.nodes)
    print(f"importing {len(inv.nodes)} nodes from {path}: {len(inv.nodes) - running} idle (provide), "
          f"{running} running (adopt); {args.concurrency} at a time; journal {journal_path}"
          + (" (resuming)" if journal.resumed else ""), flush=True)
    bar = Bar(len(inv.nodes), "import", quiet=args.quiet)
    results = importer.run(inv.nodes, seen, on_result=lambda r: bar.update())
    bar.close()
    elapsed = time.monotonic() - started
    results = results + skipped
    print(report.table(results, elapsed))
    for line in report.attention(results):
        print(line)
    if args.json:
        report.write_json(args.json, path, results, inv.problems, elapsed, interrupted=importer.interrupted)
    if importer.interrupted:
        print(f"interrupted: run the same command again to resume from {journal_path}", file=sys.stderr)
        raise KeyboardInterrupt
    return 0 if all(r.outcome in imp.GOOD for r in results) else 1


def _dry_run(args: argparse.Namespace, inv: Any, seen: dict[str, Any], journal: Any, skipped: list[Any],
             started: float) -> int:
    """What a real run would do first for each node, counted; nothing is written to Ironic or the journal."""
    from ironic_scale.fleet import import_plan as plan
    from ironic_scale.fleet import import_report as report
    from ironic_scale.fleet import importer as imp

    entries = imp.NodeLog(journal).entries if journal is not None else (lambda name: [])
    what: Counter[str] = Counter()
    results = list(skipped)
    for spec in inv.nodes:
        nxt = plan.next_action(spec.target, entries(spec.name), seen.get(spec.name))
        if nxt.action == plan.ENROLL:
            what[f"create, then {plan.final_step(spec.target)}"] += 1
        elif nxt.action == plan.DONE:
            what["already done"] += 1
        elif nxt.action in (plan.CONFLICT, plan.STUCK):
            outcome = imp.CONFLICT if nxt.action == plan.CONFLICT else imp.FAILED
            what[outcome] += 1
            obs = seen.get(spec.name)
            results.append(imp.Result(spec.name, spec.line, outcome, spec.target, nxt.step, nxt.reason,
                                      obs.uuid if obs else None, obs.provision_state if obs else None))
        else:
            what[f"resume at {nxt.action} ({nxt.step})"] += 1
    if skipped:
        what["skipped: invalid row"] += len(skipped)
    from prettytable import PrettyTable

    t = PrettyTable(["would do (dry run)", "nodes"])
    t.align["would do (dry run)"], t.align["nodes"] = "l", "r"
    for name, n in sorted(what.items()):
        t.add_row([name, n])
    print(t.get_string())
    for line in report.attention(results):
        print(line)
    if args.json:
        report.write_json(args.json, inv.path, results, inv.problems, time.monotonic() - started,
                          dry_run=True, plan=dict(what))
    return 0 if not results else 1
