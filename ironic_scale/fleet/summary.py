"""Tables the fleet commands end with (prettytable, as ``ironic-scale check`` prints)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "l") -> str:
    from prettytable import PrettyTable

    t = PrettyTable(list(headers))
    t.align = align
    for row in rows:
        t.add_row(["" if v is None else v for v in row])
    return t.get_string()


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}/s" if seconds > 0 else "-"
