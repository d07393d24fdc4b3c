"""Poll the power state of many BMCs at once, each bounded by its own deadline.

A futurist thread pool splits the sweep; each worker keeps a window of
requests in flight on the engine and takes answers in the order they arrive,
so a dead BMC holds one window slot for its deadline and nothing else.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence

import futurist

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS = 0x00, 0x01

PowerResult = bool | errors.IPMIError  # True: on, False: off, or why there is no answer


def _worker(engine: Engine, creds: Sequence[BmcCredentials], indexes: Sequence[int],
            timeout: float, window: int, results: list) -> None:
    done: queue.SimpleQueue = queue.SimpleQueue()
    todo = iter(indexes)
    in_flight = 0

    def submit_next() -> bool:
        i = next(todo, None)
        if i is None:
            return False
        future = engine.submit(creds[i], NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS, b"", timeout)
        future.add_done_callback(lambda f, i=i: done.put((i, f)))
        return True

    while in_flight < window and submit_next():
        in_flight += 1
    while in_flight:
        # The engine resolves every future by its deadline; the margin only
        # guards against a stopped engine.
        i, future = done.get(timeout=timeout + 30.0)
        in_flight -= 1
        exc = future.exception()
        if exc is None:
            data = future.result()
            results[i] = bool(data[0] & 1) if data else errors.IPMIError("empty chassis status")
        else:
            results[i] = exc if isinstance(exc, errors.IPMIError) else errors.IPMIError(str(exc))
        if submit_next():
            in_flight += 1


class PowerPoller:
    """A sweep runner with a long-lived futurist pool.

    The pool lives as long as the poller: futurist workers wait for work with a
    one-second idle timeout, so a pool built and shut down per sweep would add
    a second to every sweep.
    """

    def __init__(self, engine: Engine, pool_size: int = 8, window: int = 64):
        self.engine = engine
        self.pool_size = max(1, pool_size)
        self.window = max(1, window)
        self._pool = futurist.ThreadPoolExecutor(max_workers=self.pool_size)

    def poll(self, creds: Sequence[BmcCredentials], timeout: float) -> list[PowerResult]:
        """Power state of every BMC in ``creds``, in the same order.

        ``timeout`` is per BMC (login included), not for the sweep: a sweep with
        a dead BMC takes about as long as its slowest live BMC, or ``timeout``.
        """
        results: list[PowerResult | None] = [None] * len(creds)
        workers = min(self.pool_size, len(creds))
        futures = [self._pool.submit(_worker, self.engine, creds, range(w, len(creds), workers),
                                     timeout, self.window, results) for w in range(workers)]
        for f in futures:
            f.result()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "PowerPoller":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
