"""Import the nodes of a checked inventory: a bounded pool of workers, each taking one node
through its steps (enroll, ports, manage, then provide or adopt) with a journal record per step.

A node that fails a step stays where Ironic put it and is reported with the step and
the reason; the other nodes go on. Nothing is retried within a run; a re-run continues
every node from where the journal and Ironic say it is (``import_plan.next_action``), so an
interrupted import resumes and a finished one is a no-op.

Adoption sets no ``instance_info``: with Ironic 39's ``direct`` deploy the boot option is
``local``, so ``_do_adoption`` skips ``boot.validate`` (the only check that needs an image),
and the takeover's ``pxe`` ``prepare_instance`` leaves the boot device alone in ADOPTING; the
ipmitool and native-ipmi management interfaces cannot read or set a boot mode, so nothing is
sent to the BMC (the integration test counts every IPMI command). A ``ramdisk`` or ``anaconda``
deploy interface would need ``instance_info`` (kernel, ramdisk or image) before adopt.

The workers are daemon threads: Ctrl-C or SIGTERM stops the run at once, whatever the
workers are waiting for. That is safe because the journal records each node's UUID before
the node is created and every step can be repeated.
"""

from __future__ import annotations

import queue
import threading
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ironic_scale import signals
from ironic_scale.fleet import import_api as api
from ironic_scale.fleet import import_plan as plan
from ironic_scale.fleet.import_plan import Observed
from ironic_scale.fleet.inventory import NodeSpec
from ironic_scale.fleet.journal import Journal

# Outcomes of a node in one run, in the order the summary lists them.
AVAILABLE, ACTIVE, ALREADY_DONE = "available", "active", "already done"
FAILED, CONFLICT, INVALID, NOT_FINISHED = "failed", "conflict", "invalid", "not finished"
OUTCOMES = (AVAILABLE, ACTIVE, ALREADY_DONE, FAILED, CONFLICT, INVALID, NOT_FINISHED)
GOOD = (AVAILABLE, ACTIVE, ALREADY_DONE)


@dataclass
class Result:
    """How one inventory row ended in this run."""

    name: str
    line: int
    outcome: str
    target: str = ""
    step: str = ""
    reason: str = ""
    uuid: str | None = None
    state: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Options:
    timeout: float = 1800.0  # per node and state change
    concurrency: int = 16
    no_automated_clean: bool = False  # automated_clean=False on idle nodes whose row does not say


class NodeLog:
    """The journal, indexed by node: the import asks for one node's records thousands of times."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self._by_node: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in journal.entries():
            self._by_node[entry["node"]].append(entry)

    def entries(self, node: str) -> list[dict[str, Any]]:
        return list(self._by_node.get(node, ()))

    def record(self, node: str, step: str, **data: Any) -> None:
        # One worker at a time per node, so its list is never appended to concurrently.
        self._by_node[node].append(self.journal.record(node, step, **data))


class Importer:
    """Runs the import of many nodes against one openstacksdk connection."""

    def __init__(self, conn: Any, journal: Journal, options: Options):
        self.conn, self.options = conn, options
        self.log = NodeLog(journal)
        self.stop = threading.Event()
        self.interrupted = False

    def automated_clean(self, spec: NodeSpec) -> bool | None:
        """The row's value, else False for idle nodes with ``--no-automated-clean``, else the cloud's."""
        if spec.automated_clean is not None:
            return spec.automated_clean
        return False if self.options.no_automated_clean and not spec.running else None

    def next_for(self, spec: NodeSpec, seen: Observed | None) -> plan.Next:
        """What the import does next for ``spec``, given what Ironic shows of it."""
        return plan.next_action(spec.target, self.log.entries(spec.name), seen)

    def import_node(self, spec: NodeSpec, seen: Observed | None) -> Result:
        """Take one node as far as it goes in this run; never raises for an Ironic error."""
        obs, first, fresh = seen, True, False
        while True:
            if self.stop.is_set():
                return self._result(spec, NOT_FINISHED, obs)
            nxt = self.next_for(spec, obs)
            if nxt.action == plan.DONE:
                return self._result(spec, ALREADY_DONE if first else spec.target, obs)
            if nxt.action == plan.CONFLICT:
                return self._result(spec, CONFLICT, obs, nxt.step, nxt.reason)
            if nxt.action == plan.STUCK:
                return self._result(spec, FAILED, obs, nxt.step, nxt.reason)
            first = False
            try:
                obs = self._act(spec, nxt, obs, fresh)
                fresh = fresh or nxt.action == plan.ENROLL
            except api.NameTaken as e:
                now = api.find(self.conn, spec.name)
                if now is None or now.uuid not in plan.our_uuids(self.log.entries(spec.name)):
                    return self._result(spec, CONFLICT, now, "enroll",
                                        f"created by someone else meanwhile: {e}")
                obs = now
            except api.StepFailed as e:
                uuid = obs.uuid if obs else None
                self.log.record(spec.name, nxt.step, status="failed", uuid=uuid, reason=e.reason,
                                state=e.state)
                return Result(spec.name, spec.line, FAILED, spec.target, nxt.step, e.reason, uuid, e.state)

    def _act(self, spec: NodeSpec, nxt: plan.Next, obs: Observed | None, fresh: bool) -> Observed:
        """Do one action; record it in the journal once Ironic has done it.

        ``fresh``: this run created the node, so Ironic has nothing of it yet beyond what we sent.
        """
        conn, timeout, name = self.conn, self.options.timeout, spec.name
        if nxt.action == plan.ENROLL:
            new = str(uuidlib.uuid4())
            self.log.record(name, "enroll", status="started", uuid=new)  # before Ironic can have it
            obs = api.create(conn, spec, new, self.automated_clean(spec))
        elif nxt.action == plan.PORTS:
            created = api.ensure_ports(conn, obs.uuid, spec.macs, fresh)
            self.log.record(name, "ports", status="ok", uuid=obs.uuid, created=created, macs=len(spec.macs))
            return obs
        elif nxt.action == plan.MANAGE:
            if nxt.retry:
                api.set_driver_info(conn, obs.uuid, spec)
            obs = api.move(conn, obs, "manage", timeout)
        elif nxt.action in (plan.PROVIDE, plan.ADOPT):
            obs = api.move(conn, obs, nxt.action, timeout)
        elif nxt.action == plan.WAIT:
            obs = api.wait(conn, obs.uuid, nxt.wait_for, timeout)
        elif nxt.action != plan.RECORD:
            raise AssertionError(f"unknown action {nxt.action}")
        self.log.record(name, nxt.step, status="ok", uuid=obs.uuid, state=obs.provision_state)
        return obs

    def _result(self, spec: NodeSpec, outcome: str, obs: Observed | None, step: str = "",
                reason: str = "") -> Result:
        return Result(spec.name, spec.line, outcome, spec.target, step, reason,
                      obs.uuid if obs else None, obs.provision_state if obs else None)

    def run(self, specs: list[NodeSpec], seen: dict[str, Observed],
            on_result: Callable[[Result], None] = lambda r: None) -> list[Result]:
        """Import ``specs`` with ``options.concurrency`` workers; results in inventory order.

        Ctrl-C / SIGTERM (a KeyboardInterrupt here) stops handing out nodes, keeps the results
        that are in, marks the rest ``not finished`` and sets ``interrupted``.
        """
        todo: queue.SimpleQueue[NodeSpec] = queue.SimpleQueue()
        for spec in specs:
            todo.put(spec)
        done: queue.SimpleQueue[Result] = queue.SimpleQueue()

        def worker() -> None:
            while not self.stop.is_set():
                try:
                    spec = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = self.import_node(spec, seen.get(spec.name))
                except Exception as e:  # noqa: BLE001 - a bug must cost one node, not hang the run
                    result = Result(spec.name, spec.line, FAILED, spec.target, "?",
                                    f"{type(e).__name__}: {e}")
                done.put(result)

        threads = [threading.Thread(target=worker, name=f"fleet-import-{i}", daemon=True)
                   for i in range(min(self.options.concurrency, len(specs)))]
        for t in threads:
            t.start()
        results: dict[str, Result] = {}
        try:
            while len(results) < len(specs):
                signals.check()
                try:
                    result = done.get(timeout=0.5)
                except queue.Empty:
                    if not any(t.is_alive() for t in threads) and done.empty():
                        break
                    continue
                results[result.name] = result
                on_result(result)
        except KeyboardInterrupt:
            self.stop.set()
            self.interrupted = True
            while not done.empty():
                result = done.get_nowait()
                results[result.name] = result
        return [results.get(s.name) or Result(s.name, s.line, NOT_FINISHED, s.target) for s in specs]
