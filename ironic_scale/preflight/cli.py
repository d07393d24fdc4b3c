"""``ironic-scale preflight``."""

from __future__ import annotations

from typing import Any


def add_preflight(sub: Any) -> None:
    from ironic_scale.fleet.cli import not_built

    p = sub.add_parser("preflight", help="before an upgrade: patches, config checks and benchmarks "
                                         "against a baseline, in one report")
    p.set_defaults(func=not_built)
