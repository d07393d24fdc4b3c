"""``ironic-scale fleet migrate``: move nodes to native-ipmi (or back to ipmitool) in stages.

Exit codes: 0 every selected node is on the target (or was skipped with a reason, or, with
``--rollback``, restored); 1 a node failed (and was rolled back) or the run stopped; 2 bad
input (options, selection, journal).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ironic_scale.argtypes import duration, fraction, positive_int
from ironic_scale.fleet import migrate_model as model
from ironic_scale.fleet import migrate_run as runner
from ironic_scale.fleet.connection import add_connection_args, api_errors, connect
from ironic_scale.fleet.errors import FleetError
from ironic_scale.fleet.journal import Journal
from ironic_scale.fleet.migrate_select import Selection, parse_node_list, select
from ironic_scale.fleet.migrate_steps import NodeSteps, Outcome
from ironic_scale.fleet.nodeview import label
from ironic_scale.fleet.progress import Bar
from ironic_scale.fleet.summary import rate, table

DETAIL_ROWS = 20  # failed and skipped nodes listed in the terminal summary (all in --json)


def add_migrate(fsub: Any) -> None:
    p = fsub.add_parser(
        "migrate", help="move nodes to native-ipmi (or back to ipmitool) in stages, with rollback",
        description="Switch nodes' hardware type and power, management and vendor interfaces between "
                    "ipmitool and native-ipmi through Ironic's API. Per node: maintenance on (the power "
                    "sync skips the node), switch, validate, read the power state through the new "
                    "interface (the native-ipmi vendor passthru power_state) and compare it with the "
                    "state Ironic had, then the final interfaces and maintenance off. Any failure "
                    "rolls that node back. Never a power action, reboot or boot-device change. "
                    "Needs native-ipmi in enabled_hardware_types and in enabled_power, _management "
                    "and _vendor_interfaces.",
        epilog="Resume an interrupted run with the same --journal; undo a run with --rollback JOURNAL.")
    p.add_argument("--to", choices=sorted(model.TARGETS), help="the interfaces to move to")
    p.add_argument("--rollback", metavar="JOURNAL",
                   help="restore every node a migration's journal touched exactly as it was")
    sel = p.add_argument_group("which nodes (any combination narrows the selection)")
    sel.add_argument("--all", action="store_true",
                     help="every node of the ipmi and native-ipmi hardware types")
    sel.add_argument("--conductor-group", metavar="GROUP")
    sel.add_argument("--resource-class", metavar="CLASS")
    sel.add_argument("--name-pattern", metavar="GLOB",
                     help="shell-style pattern on node names, e.g. 'rack12-*'")
    sel.add_argument("--nodes", metavar="LIST",
                     help="names or UUIDs, comma-separated, or @FILE (one per line)")
    st = p.add_argument_group("stages")
    st.add_argument("--canary", type=int, default=1, metavar="N",
                    help="nodes in the first batch, which stops the run on any failure (default 1; 0: none)")
    st.add_argument("--batch-size", type=positive_int, default=50, metavar="N",
                    help="nodes per batch after the canary (default 50)")
    st.add_argument("--max-failure-rate", type=fraction, default=0.1, metavar="F",
                    help="stop when more than this fraction of a batch fails (default 0.1)")
    st.add_argument("--pause", type=duration, default=0.0, metavar="DURATION",
                    help="wait between batches (e.g. 60s), then check that the batch's nodes kept "
                         "their power state and got no fault or maintenance (give it a power sync "
                         "interval so the conductors have polled them through the new interface; "
                         "default 0)")
    st.add_argument("--concurrency", type=positive_int, default=8, metavar="N",
                    help="nodes migrated at once within a batch (default 8)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--journal", metavar="PATH",
                   help="per-node journal; an existing one resumes its run (default: "
                        "migrate-TARGET-TIMESTAMP.journal in the current directory)")
    p.add_argument("--json", metavar="FILE", help="write the outcome of every node as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_connection_args(p)
    p.set_defaults(func=_main)


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(all=args.all, conductor_group=args.conductor_group, resource_class=args.resource_class,
                     name_pattern=args.name_pattern,
                     nodes=parse_node_list(args.nodes) if args.nodes else ())


def _check_cloud(conn: Any, target: str) -> None:
    """The interfaces a migration sets and reads through must be enabled, or every node fails."""
    from openstack.exceptions import NotFoundException

    with api_errors("reading the native-ipmi hardware type"):
        try:
            driver = conn.baremetal.get_driver("native-ipmi")
        except NotFoundException:
            raise FleetError("the native-ipmi hardware type is not enabled on any conductor "
                             "(enabled_hardware_types)") from None
    need = {"power": model.TARGETS[target]["power_interface"],
            "management": model.TARGETS[target]["management_interface"], "vendor": model.VERIFY_VENDOR}
    missing = [f"enabled_{kind}_interfaces has no {name}" for kind, name in need.items()
               if name not in (getattr(driver, f"enabled_{kind}_interfaces", None) or [])]
    if missing:
        raise FleetError("the native-ipmi hardware type cannot be used for the migration: "
                         + "; ".join(missing))


def _main(args: argparse.Namespace) -> int:
    if bool(args.to) == bool(args.rollback):
        raise FleetError("give --to TARGET, or --rollback JOURNAL")
    if args.canary < 0:
        raise FleetError("--canary must be 0 or more")
    if args.rollback:
        return _rollback(args)
    staging = runner.Staging(canary=args.canary, batch_size=args.batch_size,
                             max_failure_rate=args.max_failure_rate, concurrency=args.concurrency,
                             pause=args.pause)
    journal_path = Path(args.journal) if args.journal else None
    resuming = journal_path is not None and journal_path.exists() and journal_path.stat().st_size > 0
    selection = None if resuming else _selection(args)
    conn = connect(args)
    _check_cloud(conn, args.to)
    out = sys.stderr
    if resuming:
        journal = Journal(journal_path, "migrate")
        if journal.header.get("target") != args.to:
            raise FleetError(f"{journal_path} is a migration to {journal.header.get('target')}, "
                             f"not {args.to}")
        batches = runner.resume_batches(journal)
        untouched: list[Outcome] = []
        print(f"Resuming {journal_path}: {sum(map(len, batches))} nodes in {len(batches)} batches "
              "(the journal's plan; selection options are ignored)", file=out)
        canary_first = bool(journal.header.get("canary"))
    else:
        with api_errors("listing nodes"):
            nodes = select(conn, selection)
        plan = runner.make_plan(nodes, args.to, staging)
        if args.dry_run:
            print(_plan_text(plan))
            return 0
        path = journal_path or Path(f"migrate-{args.to}-{time.strftime('%Y%m%dT%H%M%S')}.journal")
        journal = Journal(path, "migrate", plan.header(staging))
        batches = [[n["uuid"] for n in b] for b in plan.batches]
        untouched = runner.untouched_outcomes(plan)
        canary_first = bool(staging.canary)
        print(f"Migrating {sum(map(len, batches))} nodes to {args.to} in {len(batches)} batches; "
              f"journal {path} (resume: --journal {path}; undo: --rollback {path})", file=out)
    steps = NodeSteps(conn, journal, args.to)
    bar = Bar(sum(map(len, batches)), f"migrate to {args.to}", quiet=args.quiet)
    try:
        report = runner.run(steps, batches, staging, bar, canary_first)
    finally:
        bar.close()
    report.outcomes = untouched + report.outcomes
    print(_report_text(report))
    if args.json:
        Path(args.json).write_text(json.dumps(_report_json(report, journal.path), indent=1) + "\n")
    return 130 if report.interrupted else 0 if report.ok else 1


def _rollback(args: argparse.Namespace) -> int:
    path = Path(args.rollback)
    if not path.exists():
        raise FleetError(f"{path}: no such journal")
    journal = Journal(path, "migrate")
    conn = connect(args)
    steps = NodeSteps(conn, journal, journal.header.get("target", ""))
    bar = Bar(len(journal.nodes()), "roll back", quiet=args.quiet)
    started = time.monotonic()
    try:
        outcomes, complete = runner.rollback_all(steps, bar, args.concurrency)
    finally:
        bar.close()
    seconds = time.monotonic() - started
    counts = Counter(o.result for o in outcomes)
    print(table(("outcome", "nodes"),
                [(k, counts[k]) for k in ("rolled_back", "nothing", "rollback_failed")]))
    failed = [o for o in outcomes if o.result == "rollback_failed"]
    if failed:
        print(table(("node", "why the rollback failed"), [(o.name, o.reason) for o in failed[:DETAIL_ROWS]]))
    restored = counts["rolled_back"]
    print(f"{restored} nodes restored in {seconds:.1f} s ({rate(restored, seconds)})")
    if args.json:
        Path(args.json).write_text(json.dumps({"journal": str(path), "seconds": round(seconds, 2),
                                               "nodes": [vars(o) for o in outcomes]}, indent=1) + "\n")
    if not complete:
        print(f"INTERRUPTED: run the same --rollback {path} again to finish", file=sys.stderr)
        return 130
    return 1 if failed else 0


def _fields(node: dict[str, Any]) -> str:
    return "/".join(str(node.get(k)) for k in model.SWITCHED)


def _plan_text(plan: runner.Plan) -> str:
    rows = []
    for i, batch in enumerate(plan.batches, 1):
        for node in batch:
            rows.append((i, label(node), node["provision_state"], node["power_state"], _fields(node),
                         _fields(model.final_fields(node, plan.target))))
    parts = [f"Dry run: {sum(map(len, plan.batches))} nodes to migrate to {plan.target} in "
             f"{len(plan.batches)} batches (driver/power/management/vendor); nothing was changed."]
    if rows:
        parts.append(table(("batch", "node", "state", "power", "now", "after"), rows))
    if plan.untouched:
        parts.append(table(("node", "left alone because"), [(label(n), v.reason) for n, v in plan.untouched]))
    return "\n".join(parts)


def _report_text(report: runner.Report) -> str:
    counts = Counter(o.result for o in report.outcomes)
    rolled = sum(o.result == "failed" and o.extra.get("rollback") == "rolled_back" for o in report.outcomes)
    rows = [("migrated", counts["done"]), ("already on the target", counts["already"]),
            ("skipped", counts["skipped"]), ("failed, rolled back", rolled),
            ("failed, rollback failed too", counts["failed"] - rolled),
            ("not attempted (run stopped)", len(report.not_attempted))]
    parts = [table(("outcome", "nodes"), rows)]
    bad = [o for o in report.outcomes if o.result in ("failed", "skipped")]
    if bad:
        parts.append(table(("node", "outcome", "step", "why"),
                           [(o.name, o.result, o.step, o.reason) for o in bad[:DETAIL_ROWS]]))
        if len(bad) > DETAIL_ROWS:
            parts.append(f"... and {len(bad) - DETAIL_ROWS} more (--json FILE lists every node)")
    if report.stopped:
        parts.append(f"STOPPED: {report.stopped}")
    parts.append(f"{counts['done']} nodes migrated to {report.target} in {report.seconds:.1f} s "
                 f"({rate(counts['done'], report.seconds)})")
    return "\n".join(parts)


def _report_json(report: runner.Report, journal: Path) -> dict[str, Any]:
    return {"target": report.target, "journal": str(journal), "seconds": report.seconds,
            "stopped": report.stopped, "unhealthy": report.unhealthy,
            "not_attempted": report.not_attempted, "nodes": [vars(o) for o in report.outcomes]}
