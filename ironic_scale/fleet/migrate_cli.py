"""``ironic-scale fleet migrate``."""

from __future__ import annotations

from typing import Any


def add_migrate(fsub: Any) -> None:
    from ironic_scale.fleet.cli import not_built

    p = fsub.add_parser("migrate", help="move nodes to native-ipmi (or back) in stages, with rollback")
    p.set_defaults(func=not_built)
