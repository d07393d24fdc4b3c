"""argparse value types shared by every ``ironic-scale`` subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ironic_scale.sim.behaviour import Latency, parse_duration


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def latency(text: str) -> Latency:
    try:
        return Latency.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def size_list(text: str) -> list[int]:
    """Comma-separated positive integers: fleet sizes."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be at least 1")
    return values


def name_list(choices: tuple[str, ...], what: str) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names from ``choices``, in order, without repeats."""

    def parse(text: str) -> list[str]:
        names = [v.strip() for v in text.split(",") if v.strip()]
        for n in names:
            if n not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {n!r}: choose from {', '.join(choices)}")
        if not names:
            raise argparse.ArgumentTypeError(f"no {what} given")
        return list(dict.fromkeys(names))
    return parse
