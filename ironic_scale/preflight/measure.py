"""Run ``ironic-scale bench`` and ``ironic-scale density`` in-process, from their own options.

The preflight does not rebuild their plans: it writes the options it wants as those commands'
own arguments and parses them with the commands' own parsers, so every default, check and
refusal (``--inventory`` allows read-only methods only, SQLite one conductor, ...) is theirs.
A parse error is a ``ValueError`` (one line, exit 2), not argparse's exit: the arguments may
come from a baseline file, and must be refused before anything has run.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from ironic_scale.bench.progress import Progress


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def parse(command: str, argv: list[str]) -> argparse.Namespace:
    """``argv`` as ``ironic-scale COMMAND`` would parse it (bench or density)."""
    add = _adder(command)
    parser = _Parser(prog="ironic-scale")
    add(parser.add_subparsers(dest="command", parser_class=_Parser))
    try:
        return parser.parse_args([command, *argv])
    except ValueError as e:
        raise ValueError(f"{command} {' '.join(argv)}: {e}") from None


def _adder(command: str) -> Callable[[Any], None]:
    if command == "bench":
        from ironic_scale.bench.cli import add_bench

        return add_bench
    from ironic_scale.density.cli import add_density

    return add_density


def bench(argv: list[str], progress: Progress) -> dict[str, Any]:
    """The bench's result document (Ctrl-C: KeyboardInterrupt, not a half result)."""
    from ironic_scale.bench import cli

    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    doc, outcome = cli.measure(parse("bench", argv), progress=progress)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return doc


def density(argv: list[str], progress: Progress) -> dict[str, Any]:
    """The density test's result document; its stacks are stopped whatever happens."""
    from ironic_scale.density import cli

    return cli.measure(parse("density", argv), progress)
