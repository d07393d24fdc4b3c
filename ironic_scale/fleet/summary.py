"""Tables the fleet commands end with (prettytable, as ``ironic-scale check`` prints)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | dict[str, str] = "l") -> str:
    """``align``: one of l/c/r for every column, or per column name."""
    from prettytable import PrettyTable

    t = PrettyTable(list(headers))
    if isinstance(align, dict):
        for column, side in align.items():
            t.align[column] = side
    else:
        t.align = align
    for row in rows:
        t.add_row(["" if v is None else v for v in row])
    return t.get_string()


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}/s" if seconds > 0 else "-"
