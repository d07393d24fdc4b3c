"""Console port ranges: one host's range split into disjoint slices, one per conductor.

Ironic's ``[console]port_range`` takes ``start:end`` and means ``range(start, end)``:
the end port is **not** used (ironic/conf/console.py, ``PortRange``). The same
convention is kept here, so the slices ``10000:12500`` and ``12500:15000`` share
no port. Allocation inside a range is per process (a module-level set plus a bind
test, ironic/drivers/modules/console_utils.py), so two processes sharing a range
can hand out the same port; disjoint slices cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

PORT_MIN, PORT_MAX = 1, 65535


@dataclass(frozen=True)
class PortRange:
    start: int
    end: int  # excluded, as in Ironic

    def __str__(self) -> str:
        return f"{self.start}:{self.end}"

    def __len__(self) -> int:
        return self.end - self.start

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port < self.end

    @property
    def last(self) -> int:
        return self.end - 1

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``START:END`` with START < END, both within 1-65535."""
        parts = text.strip().split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"console port range {text!r} is not START:END (e.g. 10000:20000)")
        start, end = (int(p) for p in parts)
        if not PORT_MIN <= start < end <= PORT_MAX:
            raise ValueError(f"console port range {text!r}: need {PORT_MIN} <= START < END <= {PORT_MAX}")
        return cls(start, end)


def split(whole: PortRange, count: int) -> list[PortRange]:
    """``count`` disjoint, adjacent slices covering ``whole``; the first ones take the remainder."""
    if count < 1:
        raise ValueError(f"cannot split a port range {count} ways")
    if len(whole) < count:
        raise ValueError(f"console port range {whole} holds {len(whole)} ports (end excluded), fewer than "
                         f"the {count} conductors of one host: disjoint ranges are impossible")
    size, extra = divmod(len(whole), count)
    out, start = [], whole.start
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(PortRange(start, end))
        start = end
    return out
