"""Output of ``ironic-scale check``: a table or JSON, and the exit code (the worst result)."""

from __future__ import annotations

import json
import textwrap

from oslo_upgradecheck.upgradecheck import Code, Result

from ironic_scale.sharding.confload import CONDUCTOR, Service

DETAILS_WIDTH = 76


def exit_code(results: list[tuple[str, Result]]) -> int:
    """0 all SUCCESS, 1 some WARNING, 2 some FAILURE (as ``ironic-status upgrade check``)."""
    return int(max((r.code for _, r in results), default=Code.SUCCESS))


def as_json(results: list[tuple[str, Result]], services: list[Service]) -> str:
    """oslo.upgradecheck's JSON (name, checks: check/result/details) plus code names and the services."""
    return json.dumps({
        "name": "ironic-scale check",
        "result": exit_code(results),
        "code": Code(exit_code(results)).name,
        "checks": [{"check": name, "result": int(r.code), "code": r.code.name, "details": r.details}
                   for name, r in results],
        "services": [{"service": f"{s.role} {s.index}", "files": list(s.files),
                      **({"name": s.name, "group": s.group} if s.role == CONDUCTOR else {})}
                     for s in services],
    }, indent=1)


def as_table(results: list[tuple[str, Result]]) -> str:
    import prettytable

    table = prettytable.PrettyTable(["Check", "Result", "Details"])
    table.align = "l"
    for name, r in results:
        table.add_row([name, r.code.name, "\n".join(textwrap.wrap(r.details or "", DETAILS_WIDTH))])
    counts = {code: sum(1 for _, r in results if r.code == code) for code in Code}
    summary = ", ".join(f"{n} {code.name}" for code, n in counts.items() if n)
    return f"{table}\n{summary}: {Code(exit_code(results)).name}"
