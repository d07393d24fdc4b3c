"""Poll the power state of many BMCs at once, each bounded by its own deadline.

The whole sweep is one ``Engine.submit_many`` job: the engine thread keeps a
window of requests in flight and starts the next one as each answer arrives,
so a dead BMC holds one window slot for its deadline and nothing else, and
no thread hand-off is paid per BMC (issue 13: that hand-off, a Future and an
eventfd write per request and a queue wake-up per answer, was over half of
the poll's client CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS = 0x00, 0x01
# Beyond the sweep's own bound; only a stopped engine could need it.
WAIT_MARGIN = 30.0

PowerResult = bool | errors.IPMIError  # True: on, False: off, or why there is no answer


def power_result(answer: object) -> PowerResult:
    """One Get Chassis Status answer (response data or an exception) as a PowerResult."""
    if isinstance(answer, bytes):
        return bool(answer[0] & 1) if answer else errors.IPMIError("empty chassis status")
    if isinstance(answer, errors.IPMIError):
        return answer
    return errors.IPMIError(str(answer) or "no answer from the IPMI engine")


class PowerPoller:
    """Sweeps of Get Chassis Status with ``pool_size * window`` requests in flight.

    ``pool_size`` and ``window`` keep their old meaning for the in-flight bound
    (they used to be worker threads and each worker's window); no thread is used.
    """

    def __init__(self, engine: Engine, pool_size: int = 8, window: int = 64):
        self.engine = engine
        self.pool_size = max(1, pool_size)
        self.window = max(1, window)

    def poll(self, creds: Sequence[BmcCredentials], timeout: float) -> list[PowerResult]:
        """Power state of every BMC in ``creds``, in the same order.

        ``timeout`` is per BMC (login included), not for the sweep: a sweep with
        a dead BMC takes about as long as its slowest live BMC, or ``timeout``.
        """
        if not creds:
            return []
        in_flight = self.pool_size * self.window
        future = self.engine.submit_many(creds, NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS, b"", timeout,
                                         in_flight)
        # The engine answers every request by its deadline: at worst one deadline
        # per window's worth of dead BMCs.
        rounds = -(-len(creds) // in_flight)
        return [power_result(a) for a in future.result(rounds * timeout + WAIT_MARGIN)]

    def close(self) -> None:
        """Nothing to release any more (no pool); kept for callers and ``with``."""

    def __enter__(self) -> "PowerPoller":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
