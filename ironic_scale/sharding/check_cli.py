"""``ironic-scale check``: lint the configs of a set of Ironic APIs and conductors (and optionally the DB)."""

from __future__ import annotations

import argparse
import warnings
from typing import TYPE_CHECKING

from ironic_scale import argtypes

if TYPE_CHECKING:  # oslo.upgradecheck and Ironic load only when a check runs
    from oslo_upgradecheck.upgradecheck import Result

    from ironic_scale.sharding.check_model import Fleet

DESCRIPTION = """\
Check the configs of every Ironic API service and conductor process of one
deployment against the traps of running many conductors (one hash ring, unique
names, json-rpc ports, DB connection budget, stop timeouts, shared caches...).
Each check prints SUCCESS, WARNING or FAILURE with the files or instances at fault.
With --db, also read the database of the first conductor's [database]connection
(dead conductors' locks, stale rows, clock skew, nodes nobody serves)."""

EPILOG = """\
exit codes: 0 every check passed, 1 warnings, 2 a failure or bad input (missing or
unparsable file, a value Ironic rejects, unreachable --db).

examples:
  ironic-scale check --api /etc/ironic/ironic.conf \\
      --conductor /etc/ironic/ironic.conf,/etc/ironic/conductor.d/1.conf \\
      --conductor /etc/ironic/ironic.conf,/etc/ironic/conductor.d/2.conf \\
      --unit /etc/systemd/system/ironic-conductor@.service --db"""


def add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="lint the configs of Ironic APIs and conductors (and the DB)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", action="append", default=[], metavar="FILE[,FILE...]",
                   help="one API service's config files, in --config-file order (repeat per API service)")
    p.add_argument("--conductor", action="append", default=[], metavar="FILE[,FILE...]",
                   help="one conductor process's config files, e.g. ironic.conf,conductor.d/2.conf "
                        "(repeat per conductor process)")
    p.add_argument("--unit", action="append", default=[], metavar="FILE",
                   help="systemd unit, then drop-ins, in the order systemd reads them; the resulting "
                        "TimeoutStopSec applies to every conductor (e.g. a template "
                        "ironic-conductor@.service). "
                        "Default: systemd's 90 s")
    p.add_argument("--api-workers", type=argtypes.positive_int, metavar="N",
                   help="worker processes per API service (default: its [api]api_workers, else "
                        "min(CPUs here, 4) as Ironic does)")
    p.add_argument("--max-connections", type=argtypes.positive_int, metavar="N",
                   help="the DB server's max_connections (default: queried with --db, else PostgreSQL 100, "
                        "MySQL/MariaDB 151)")
    p.add_argument("--db", action="store_true",
                   help="also check the database of the first --conductor's [database]connection")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="a table (default) or JSON like `ironic-status upgrade check --json`")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from ironic_scale.sharding import check_report

    results, fleet = evaluate(args.api, args.conductor, units=args.unit, api_workers=args.api_workers,
                              max_connections=args.max_connections, db=args.db)
    print(check_report.as_json(results, fleet.services) if args.format == "json"
          else check_report.as_table(results))
    return check_report.exit_code(results)


def evaluate(apis: list[str], conductors: list[str], *, units: list[str] | None = None,
             api_workers: int | None = None, max_connections: int | None = None,
             db: bool = False) -> tuple[list[tuple[str, Result]], Fleet]:
    """Every check's (name, Result) and the Fleet they looked at, printing nothing: the
    function behind ``ironic-scale check``, which ``ironic-scale preflight`` runs too.

    ``apis`` and ``conductors`` are ``FILE[,FILE...]`` per service, as on the command line.
    :raises ConfigError: no service given, or a file is missing or holds a value Ironic refuses.
    """
    # Importing Ironic's conductor modules pulls in eventlet, which warns on stderr.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from ironic_scale.sharding import check_db, checks
    from ironic_scale.sharding.check_capacity import server_of
    from ironic_scale.sharding.check_model import Fleet
    from ironic_scale.sharding.confload import ConfigError, load_all
    from ironic_scale.sharding.unit_timeout import stop_timeout

    units = units or []
    if not apis and not conductors:
        raise ConfigError("give at least one --api or --conductor config")
    if db and not conductors:
        raise ConfigError("--db reads the first --conductor's [database]connection: give a --conductor")
    api_services, conductor_services = load_all(apis, conductors)
    snapshot = check_db.read(conductor_services[0].conf.database.connection) if db else None
    limit, source, server = max_connections, "--max-connections", None
    if not limit and snapshot is not None and snapshot.max_connections:
        limit, source = snapshot.max_connections, "queried from the database"
        server = server_of(conductor_services[0].conf.database.connection)
    fleet = Fleet(api_services, conductor_services, stop_timeout(units), units_given=bool(units),
                  api_workers=api_workers, max_connections=limit, max_connections_source=source,
                  max_connections_server=server)
    results = checks.run(fleet)
    if snapshot is not None:
        results += check_db.run(snapshot, conductor_services[0])
    return results, fleet
