"""Run the ``ironic-scale`` command in-process from a test."""

from __future__ import annotations

import signal

from ironic_scale import cli


def run_cli(argv: list[str]) -> int:
    """``ironic-scale ARGV`` in-process; the SIGINT/SIGTERM handlers it installs are put back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return cli.main(argv)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
