"""Where the engine thread puts answers: lighter than a Future per call.

A ``concurrent.futures.Future`` costs a Condition, a waiter lock and a
notify_all per call; on a warm poll that was a good part of the client's CPU.
``OneAnswer`` is one lock for one blocked caller (``Engine.call``); ``Batch``
runs a whole sweep in the engine thread (``Engine.submit_many``), so a poll
of N BMCs costs one job and one wake-up instead of N hand-offs each way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

Answer = bytes | BaseException  # response data, or why there is none


class Waiter:
    """Anything with ``resolve(answer)`` may stand in for a Future in a Call.

    ``resolve`` runs under the engine's state lock (in the IO thread, or in a caller
    starting a call): it must not block, and must not call back into a session (it
    may only record the answer and wake someone).
    """

    __slots__ = ()

    def resolve(self, answer: Answer) -> None:
        raise NotImplementedError


_NOTHING: Any = object()


class OneAnswer(Waiter):
    """One caller blocked until the engine answers (or its own margin passes).

    A caller that reads its BMC's socket itself (``Engine._lead``) sets ``wake``
    to that socket's eventfd: an answer it did not read itself (a deadline the
    IO thread expired, a session dropped under it) then also wakes it there.
    """

    __slots__ = ("_lock", "_answer", "wake", "woke")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # released by resolve: the caller's acquire returns
        self._answer = _NOTHING
        self.wake = -1  # eventfd to write on resolve, or -1
        self.woke = False  # resolve wrote to ``wake`` (its reader must drain it)

    def resolve(self, answer: Answer) -> None:
        if self._answer is _NOTHING:  # only the first answer counts, as with a Future
            self._answer = answer
            self._lock.release()
            if self.wake >= 0:
                os.eventfd_write(self.wake, 1)
                self.woke = True

    @property
    def done(self) -> bool:
        return self._answer is not _NOTHING

    def wait(self, timeout: float) -> bytes:
        """The response data; raises the error, or TimeoutError after ``timeout``."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"the IPMI engine gave no answer within {timeout:g} s")
        if isinstance(self._answer, BaseException):
            raise self._answer
        return self._answer


class Batch:
    """One request to each of many BMCs, at most ``window`` in flight, run by the engine thread.

    Built in the caller's thread; from then on only the engine touches it (under its lock)
    (``start`` makes the calls, slots record answers, ``refill`` starts more), and
    the caller only waits on ``future``, which gets every answer in order.
    """

    __slots__ = ("targets", "request", "timeout", "window", "answers", "next", "in_flight",
                 "future", "queued", "_ready")

    def __init__(self, targets: Sequence[tuple[Any, tuple[str, int] | BaseException]],
                 request: tuple[int, int, bytes, int], timeout: float, window: int,
                 ready: Callable[[Batch], None]):
        self.targets = targets  # (credentials, peer or why it cannot be reached)
        self.request = request  # netfn, cmd, data, lun
        self.timeout = timeout
        self.window = max(1, window)
        self.answers: list[Answer | None] = [None] * len(targets)
        self.next = 0  # index of the next target to start
        self.in_flight = 0
        self.future: Future = Future()
        self.queued = False  # already in the engine's list of batches to refill
        self._ready = ready  # the engine's "refill me" hook

    def slot(self, index: int) -> BatchSlot:
        self.in_flight += 1
        return BatchSlot(self, index)

    def answered(self, index: int, answer: Answer) -> None:
        self.answers[index] = answer
        self.in_flight -= 1
        if not self.queued:
            self.queued = True
            self._ready(self)

    @property
    def done(self) -> bool:
        return self.next >= len(self.targets) and not self.in_flight

    def fail_rest(self, error: BaseException) -> None:
        """Every target not started yet gets ``error`` (the engine is stopping)."""
        for i in range(self.next, len(self.targets)):
            self.answers[i] = error
        self.next = len(self.targets)

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.answers)


class BatchSlot(Waiter):
    """One target's place in a Batch."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: Batch, index: int):
        self.batch, self.index = batch, index

    def resolve(self, answer: Answer) -> None:
        batch = self.batch
        if batch is not None:
            self.batch = None  # once only
            batch.answered(self.index, answer)
