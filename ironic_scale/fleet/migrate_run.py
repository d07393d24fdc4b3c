"""A staged migration: a canary batch, then batches, a pause and a health check between them,
and a stop when a batch fails too often. The journal's first line holds the plan, so an
interrupted run resumes with exactly the nodes and batches it started with."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import futurist

from ironic_scale.fleet import migrate_model as model
from ironic_scale.fleet.journal import Journal
from ironic_scale.fleet.migrate_steps import NodeSteps, Outcome
from ironic_scale.fleet.nodeview import label
from ironic_scale.fleet.progress import Bar


@dataclass(frozen=True)
class Staging:
    canary: int = 1
    batch_size: int = 50
    max_failure_rate: float = 0.1
    concurrency: int = 8
    pause: float = 0.0  # seconds between batches, then the health check


@dataclass
class Plan:
    target: str
    batches: list[list[dict[str, Any]]]  # nodes to migrate, as the API showed them when planned
    untouched: list[tuple[dict[str, Any], model.Verdict]]  # already there, or skipped (why)

    def header(self, staging: Staging) -> dict[str, Any]:
        return {"target": self.target, "canary": staging.canary, "batch_size": staging.batch_size,
                "batches": [[n["uuid"] for n in b] for b in self.batches]}


def make_plan(nodes: list[dict[str, Any]], target: str, staging: Staging) -> Plan:
    todo, untouched = [], []
    for node in nodes:
        verdict = model.classify(node, target)
        if verdict.action == "migrate":
            todo.append(node)
        else:
            untouched.append((node, verdict))
    return Plan(target, model.batches(todo, staging.canary, staging.batch_size), untouched)


@dataclass
class Report:
    target: str
    outcomes: list[Outcome] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early
    interrupted: bool = False
    unhealthy: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, result: str) -> int:
        return sum(o.result == result for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not self.stopped and not any(o.result in ("failed", "rollback_failed")
                                            for o in self.outcomes)


def health(steps: NodeSteps, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Migrated nodes that, after the pause, no longer look as before: a power state that
    changed, a fault, or maintenance set (the power sync puts a node it cannot read there)."""
    bad = []
    for o in outcomes:
        if o.result != "done":
            continue
        planned = [e for e in steps.journal.entries(o.uuid) if e["step"] == "planned"][-1]["before"]
        now = steps.get(o.uuid)
        why = []
        if planned["power_state"] is not None and now["power_state"] != planned["power_state"]:
            why.append(f"power {planned['power_state']} -> {now['power_state']}")
        if now["fault"]:
            why.append(f"fault {now['fault']}")
        if now["maintenance"] and not planned["maintenance"]:
            why.append(f"in maintenance: {now['maintenance_reason']}")
        if why:
            bad.append({"uuid": o.uuid, "name": o.name, "why": "; ".join(why)})
    return bad


def run(steps: NodeSteps, batches: list[list[str]], staging: Staging, bar: Bar,
        canary_first: bool, sleep: Callable[[float], None] = time.sleep) -> Report:
    """Migrate ``batches`` of node UUIDs in order; stop on too many failures or a sick batch."""
    report = Report(steps.target)
    started = time.monotonic()
    with futurist.ThreadPoolExecutor(max_workers=staging.concurrency) as pool:
        for index, batch in enumerate(batches):
            outcomes, complete = _gather([pool.submit(steps.migrate, uuid) for uuid in batch], bar)
            report.outcomes += outcomes
            if not complete:  # interrupted: the nodes under way were finished
                report.interrupted = True
                report.stopped = "interrupted (Ctrl-C or SIGTERM); run again with the same --journal"
                report.not_attempted = [u for u in batch if u not in {o.uuid for o in outcomes}]
                report.not_attempted += [u for b in batches[index + 1:] for u in b]
                break
            failed = sum(o.result == "failed" for o in outcomes)
            attempted = sum(o.result in ("done", "failed") for o in outcomes)
            canary = canary_first and index == 0
            name = "canary batch" if canary else f"batch {index + 1}"
            if model.too_many_failures(failed, attempted, staging.max_failure_rate, canary):
                report.stopped = (f"{name}: {failed} of {attempted} nodes failed (allowed: "
                                  f"{'none in the canary' if canary else f'{staging.max_failure_rate:.0%}'})")
            elif index + 1 < len(batches):
                if staging.pause:
                    sleep(staging.pause)
                report.unhealthy = health(steps, outcomes)
                if report.unhealthy:
                    report.stopped = (f"{name}: {len(report.unhealthy)} migrated nodes unhealthy after "
                                      f"the pause, e.g. {report.unhealthy[0]['name']}: "
                                      f"{report.unhealthy[0]['why']}")
            if report.stopped:
                report.not_attempted = [u for b in batches[index + 1:] for u in b]
                break
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _gather(futures: list[Future], bar: Bar) -> tuple[list[Outcome], bool]:
    """(results in order, True), or on Ctrl-C or SIGTERM (the results of the nodes that were
    under way, which finish: each step is journaled; False) with the others cancelled."""
    out = []
    try:
        for f in futures:
            out.append(f.result())
            bar.update()
    except KeyboardInterrupt:
        started = [f for f in futures if not f.cancel()]
        return [f.result() for f in started], False
    return out, True


def rollback_all(steps: NodeSteps, bar: Bar, concurrency: int) -> tuple[list[Outcome], bool]:
    """Roll back every node the journal's migration touched, in parallel; (outcomes, complete)."""
    uuids = steps.journal.nodes()
    with futurist.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return _gather([pool.submit(steps.rollback, u) for u in uuids], bar)


def untouched_outcomes(plan: Plan) -> list[Outcome]:
    return [Outcome(n["uuid"], label(n), "already" if v.action == "already" else "skipped", v.reason)
            for n, v in plan.untouched]


def resume_batches(journal: Journal) -> list[list[str]]:
    return [list(b) for b in journal.header.get("batches", [])]
