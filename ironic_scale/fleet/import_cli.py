"""``ironic-scale fleet import INVENTORY``."""

from __future__ import annotations

from typing import Any


def add_import(fsub: Any) -> None:
    from ironic_scale.fleet.cli import not_built

    p = fsub.add_parser("import", help="enroll, manage, provide or adopt the nodes of an inventory file")
    p.set_defaults(func=not_built)
