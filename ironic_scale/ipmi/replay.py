"""Inbound session sequence numbers: refuse replayed and stale replies.

A reply recorded while a host was on, re-sent later from the BMC's address,
still carries a valid integrity code: only its session sequence number gives
it away. IPMI v2.0 section 6.12.13 has the receiver keep a sliding window of
the numbers it accepted; FreeIPMI (``ipmi_check_session_sequence_number_2_0``)
keeps 32, and so do we. Written by hand because pyghmi keeps no window at all.
"""

from __future__ import annotations

WINDOW = 32  # numbers behind the highest one that may still arrive (late, reordered)
_MODULUS = 2**32


class SequenceWindow:
    """The session sequence numbers accepted so far on one session."""

    __slots__ = ("highest", "seen")

    def __init__(self) -> None:
        self.highest = 0  # 0: nothing accepted yet (0 is never a valid number)
        self.seen = 0  # bit i: highest - i was accepted

    def accept(self, number: int) -> bool:
        """True for a number not seen before and not older than the window.

        Numbers count up from 1 and wrap from 0xFFFFFFFF to 1; a number up to
        2**31 ahead of the highest counts as newer, as in serial arithmetic.
        """
        if number == 0:
            return False  # reserved for unauthenticated packets
        if self.highest == 0:
            self.highest, self.seen = number, 1
            return True
        ahead = (number - self.highest) % _MODULUS
        if 0 < ahead < 2**31:
            self.seen = ((self.seen << ahead) | 1) & ((1 << WINDOW) - 1) if ahead < WINDOW else 1
            self.highest = number
            return True
        behind = (self.highest - number) % _MODULUS
        if behind >= WINDOW or self.seen & (1 << behind):
            return False
        self.seen |= 1 << behind
        return True
