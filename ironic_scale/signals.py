"""Ctrl-C and SIGTERM for long commands: an exception now, and a flag that stays set.

Python drops a KeyboardInterrupt raised while the main thread runs a
finaliser or a callback (it prints "Exception ignored in ..."), and a bench
then kept sweeping after Ctrl-C (seen under load in CI). The flag lets loops
that must stop notice at their next step anyway.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_INTERRUPTED = threading.Event()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt and set the flag (main thread only)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def check() -> None:
    """Raise KeyboardInterrupt if a signal came, even if its first exception was lost."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt
