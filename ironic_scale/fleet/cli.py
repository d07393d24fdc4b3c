"""``ironic-scale fleet import|migrate``: put a fleet on Ironic and move it between drivers."""

from __future__ import annotations

import argparse
from typing import Any


def add_fleet(sub: Any) -> None:
    from ironic_scale.fleet.import_cli import add_import
    from ironic_scale.fleet.migrate_cli import add_migrate

    fleet = sub.add_parser(
        "fleet", help="import, adopt and migrate a fleet through Ironic's REST API",
        description="Import a fleet from an inventory file (enroll, ports, manage, provide or adopt) and "
                    "move nodes to native-ipmi and back in stages, each with a journal that resumes an "
                    "interrupted run and rolls a migration back.")
    fsub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="{import,migrate}")
    add_import(fsub)
    add_migrate(fsub)


def not_built(args: argparse.Namespace) -> int:  # placeholder until the command lands
    raise ValueError(f"{args.command} is not built yet")
