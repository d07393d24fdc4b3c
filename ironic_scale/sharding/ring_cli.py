"""``ironic-scale ring``: predict, balance, plan, validate and export placement on Ironic's hash ring."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ironic_scale import argtypes
from ironic_scale.sharding import ring_report, settings, sources
from ironic_scale.sharding.balance import balance, recommend_exponent
from ironic_scale.sharding.model import Cluster, Conductor, RingSettings
from ironic_scale.sharding.plan import PlanError, make_plan, parse_change
from ironic_scale.sharding.validate import validate

EXIT_ERROR = 2


class CommandError(Exception):
    """Bad input: printed as one line, exit status 2."""


def _add_source(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where conductors and nodes come from (one of)")
    g.add_argument("--cluster", type=Path, help="a JSON file {\"conductors\": [...], \"nodes\": [...]} "
                   "(e.g. from `ring export`)")
    g.add_argument("--nodes", type=Path, help="nodes: CSV, JSON or JSON lines with uuid, driver, "
                   "conductor_group[, provision_state, maintenance, conductor] (API names or "
                   "`baremetal node list --long -f json` titles)")
    g.add_argument("--conductors", type=Path, help="conductors: hostname, conductor_group, "
                   "hardware_types (or drivers), alive[, machine]")
    g.add_argument("--member", action="append", default=[], metavar="NAME",
                   help="a conductor by its registered name (repeatable; with --group, --hardware-type)")
    g.add_argument("--group", default="", help="conductor group of every --member (default: none)")
    g.add_argument("--hardware-type", action="append", default=[],
                   help="hardware type of every --member (repeatable; default ipmi)")
    g.add_argument("--endpoint", help="Ironic API URL without authentication (noauth, standalone)")
    g.add_argument("--os-cloud", help="a cloud from clouds.yaml (default: OS_* variables)")
    g.add_argument("--api", action="store_true",
                   help="read from the REST API (clouds.yaml/OS_* or --endpoint)")
    g.add_argument("--db", action="store_true",
                   help="read from Ironic's database with the --config-file's [database]connection")
    r = p.add_argument_group("ring settings (not exposed by any API)")
    r.add_argument("--config-file", action="append", default=[], type=str,
                   help="an ironic.conf of the cluster (repeatable): ring settings and intervals come from "
                        "it, as the services read them; default: Ironic's defaults")
    r.add_argument("--exponent", type=int, help="[DEFAULT]hash_partition_exponent (overrides --config-file)")
    r.add_argument("--algorithm", help="[DEFAULT]hash_ring_algorithm (overrides --config-file)")
    p.add_argument("--format", choices=("table", "json"), default="table")


def _cluster(args: argparse.Namespace) -> Cluster:
    if args.config_file:
        try:
            settings.load_config(args.config_file)
        except Exception as e:  # oslo.config raises several types for unreadable files
            raise CommandError(f"cannot read --config-file: {e}") from None
    if args.db:
        if not args.config_file:
            raise CommandError("--db needs --config-file with [database]connection")
        return sources.from_database()
    if args.api or args.endpoint or args.os_cloud:
        return sources.from_api(sources.connect(args.os_cloud, args.endpoint))
    members = [Conductor(name=m, group=args.group, hardware_types=frozenset(args.hardware_type or ["ipmi"]))
               for m in args.member]
    if args.cluster:
        cluster = sources.from_files(args.cluster, members=members)
    elif args.nodes or args.conductors:
        cluster = sources.from_files(args.nodes, args.conductors, members=members)
    else:
        raise CommandError("say where the cluster comes from: --cluster, --nodes/--conductors/--member, "
                           "--api/--endpoint/--os-cloud, or --db")
    if not cluster.conductors:
        raise CommandError("no conductors: give --conductors, --member or a --cluster file that lists them")
    return cluster


def _settings(args: argparse.Namespace) -> RingSettings:
    s = settings.ring_settings(args.exponent, args.algorithm)
    if s.algorithm.startswith("shake"):
        raise CommandError(f"hash_ring_algorithm {s.algorithm}: tooz cannot hash with it (every ring build "
                           "fails with TypeError); use md5 or sha256")
    return s


def _emit(args: argparse.Namespace, doc: dict, text: str) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n" if args.format == "json" else text)


def _predict(args: argparse.Namespace) -> int:
    cluster, s = _cluster(args), _settings(args)
    report = balance(cluster, s, random_trials=0)
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        if args.format == "json":
            json.dump({"settings": asdict(s), "owners": report.owners}, out, indent=2, sort_keys=True)
            out.write("\n")
        else:
            w = csv.writer(out)
            w.writerow(("uuid", "name", "driver", "conductor_group", "conductor"))
            for n in cluster.nodes:
                w.writerow((n.uuid, n.name or "", n.driver, n.conductor_group, report.owners[n.uuid] or ""))
    finally:
        if args.out:
            out.close()
    print(f"{len(cluster.nodes)} nodes on {len(report.per_conductor)} live conductors, "
          f"{report.orphaned} orphaned", file=sys.stderr)
    return 0


def _balance(args: argparse.Namespace) -> int:
    cluster, s = _cluster(args), _settings(args)
    report = balance(cluster, s)
    doc = report.to_dict()
    machines: dict[str, list[str]] = {}
    for c in cluster.conductors:
        if c.alive:
            machines.setdefault(c.machine, []).append(c.name)
    doc["machines"] = machines
    if cluster.nodes and not args.no_recommend:
        pick, choices = recommend_exponent(cluster, s, current=report.owners)
        doc["recommendation"] = {"exponent": pick, "choices": [asdict(c) for c in choices]}
    _emit(args, doc, ring_report.balance_text(doc))
    return 0


def _plan(args: argparse.Namespace) -> int:
    cluster, s = _cluster(args), _settings(args)
    try:
        changes = [parse_change(c) for c in args.change]
        plan = make_plan(cluster, s, changes, settings.Timing.from_conf(), args.rpc_transport,
                         args.first_port)
    except PlanError as e:
        raise CommandError(str(e)) from None
    doc = plan.to_dict()
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    _emit(args, doc, ring_report.plan_text(doc))
    return 0


def _validate(args: argparse.Namespace) -> int:
    cluster, s = _cluster(args), _settings(args)
    if cluster.source != "api" and not any(n.conductor for n in cluster.nodes):
        raise CommandError("validate compares with the API's conductor field: read from --api/--endpoint, "
                           "or give nodes with a conductor column")
    result = validate(cluster, s, search=not args.no_search)
    _emit(args, result.to_dict(), ring_report.validate_text(result.to_dict()))
    return 0 if result.exact else 1


def _export(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    doc = {"source": cluster.source,
           "conductors": [{"hostname": c.name, "conductor_group": c.group, "alive": c.alive,
                           "hardware_types": sorted(c.hardware_types), "machine": c.machine}
                          for c in cluster.conductors],
           "nodes": [{k: v for k, v in asdict(n).items() if v not in (None, "")} for n in cluster.nodes]}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cluster.conductors)} conductors and {len(cluster.nodes)} nodes to {args.out}",
          file=sys.stderr)
    return 0


def add_ring(sub: argparse._SubParsersAction) -> None:
    ring = sub.add_parser(
        "ring", help="placement of nodes on Ironic's hash ring: predict, balance, plan, validate",
        description="Uses tooz's HashRing with Ironic's arguments: one ring per "
                    "conductor_group:hardware_type, 2**hash_partition_exponent points per conductor, "
                    "hash_ring_algorithm.").add_subparsers(
        dest="ring_command", required=True)
    p = ring.add_parser("predict", help="the conductor each node is mapped to (CSV, or JSON)")
    _add_source(p)
    p.add_argument("--out", help="write the owners here instead of stdout")
    p.set_defaults(func=_predict)
    p = ring.add_parser("balance",
                        help="nodes per conductor, per host and per ring, against random placement")
    _add_source(p)
    p.add_argument("--no-recommend", action="store_true", help="skip the exponent recommendation")
    p.set_defaults(func=_balance)
    p = ring.add_parser("plan", help="what a change would move, before making it (nothing is changed)")
    _add_source(p)
    p.add_argument("--change", action="append", required=True,
                   help="add=NAME, remove=NAME (graceful stop), rename=OLD,NEW, add-host=MACHINE:N, "
                        "lose-host=MACHINE (crash), exponent=E, algorithm=A; repeatable, applied in order")
    p.add_argument("--rpc-transport", choices=("json-rpc", "oslo"), default="json-rpc",
                   help="how add-host names its instances (json-rpc: MACHINE:PORT)")
    p.add_argument("--first-port", type=argtypes.positive_int, default=8089,
                   help="json-rpc port of a new host's first instance")
    p.add_argument("--out", help="also write the plan as JSON here")
    p.set_defaults(func=_plan)
    p = ring.add_parser("validate", help="diff the prediction against the API's conductor field "
                                         "(exit 1 on any difference)")
    _add_source(p)
    p.add_argument("--no-search", action="store_true",
                   help="on a difference, do not search for the exponent/algorithm the API uses")
    p.set_defaults(func=_validate)
    p = ring.add_parser("export", help="save conductors and nodes from the API or database to a JSON file")
    _add_source(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_export)
    for parser in ring.choices.values():
        parser.set_defaults(wrapped=parser.get_default("func"), func=_guarded)


def _guarded(args: argparse.Namespace) -> int:
    """Bad input of any kind ends as one line on stderr and exit status 2, not a traceback."""
    try:
        return args.wrapped(args)
    except (CommandError, sources.SourceError) as e:
        print(f"ironic-scale ring: {e}", file=sys.stderr)
    except ValueError as e:  # tooz: unknown hash function
        print(f"ironic-scale ring: {e}", file=sys.stderr)
    except Exception as e:
        if type(e).__module__.split(".")[0] not in ("openstack", "keystoneauth1", "oslo_db", "sqlalchemy"):
            raise
        print(f"ironic-scale ring: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_ERROR
