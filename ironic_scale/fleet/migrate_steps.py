"""The REST calls that migrate one node, verify it, and put it back; each step journaled.

Every step is safe to repeat, so a node interrupted anywhere is finished (or rolled back)
by running again with the same journal. No step powers, reboots or changes the boot device
of a machine: maintenance on and off, a PATCH of driver and interfaces, ``validate``, and a
power *read* through the native-ipmi vendor passthru.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ironic_scale.fleet import migrate_model as model
from ironic_scale.fleet.journal import Journal
from ironic_scale.fleet.nodeview import label, view

MAINTENANCE_REASON = "ironic-scale fleet migrate: switching the power interface"
# Records that end an attempt on a node; anything after one starts a new attempt.
TERMINAL = ("done", "already", "skipped", "rolled_back")


@dataclass
class Outcome:
    """How one node ended: done, already, skipped, failed (then ``extra["rollback"]``), or for a
    rollback: rolled_back, rollback_failed, nothing."""

    uuid: str
    name: str
    result: str
    reason: str = ""
    step: str = ""  # the step that failed
    extra: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    def __init__(self, step: str, reason: str):
        super().__init__(reason)
        self.step, self.reason = step, reason


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] or type(e).__name__


def current_attempt(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of ``entries`` after the last one that ended an attempt."""
    for i in range(len(entries) - 1, -1, -1):
        if entries[i]["step"] in TERMINAL:
            return entries[i + 1:]
    return entries


class NodeSteps:
    """Migrate or roll back one node at a time through openstacksdk; thread-safe."""

    def __init__(self, conn: Any, journal: Journal, target: str):
        self.bm = conn.baremetal
        self.journal = journal
        self.target = target

    # -- API -------------------------------------------------------------------------

    def get(self, uuid: str) -> dict[str, Any]:
        return view(self.bm.get_node(uuid))

    def _patch(self, uuid: str, fields: dict[str, Any]) -> None:
        ops = [{"op": "replace", "path": f"/{k}", "value": v} for k, v in fields.items()]
        if ops:
            self.bm.patch_node(uuid, ops)

    def read_power(self, uuid: str) -> str | None:
        """The BMC's power state through the node's power interface; changes nothing."""
        reply = self.bm.call_node_vendor_passthru(uuid, "GET", "power_state")
        return reply.json().get("power_state")

    # -- migrate -------------------------------------------------------------------------

    def migrate(self, uuid: str) -> Outcome:
        entries = self.journal.entries(uuid)
        if entries and entries[-1]["step"] == "done":  # a re-run: no API call at all
            name = next((e["name"] for e in reversed(entries) if e.get("name")), uuid)
            return Outcome(uuid, name, "already", "migrated by an earlier run (journal)")
        attempt = current_attempt(entries)
        done_steps = {e["step"] for e in attempt}
        try:
            node = self.get(uuid)
        except Exception as e:  # deleted since the plan, or the API failed: nothing was changed
            reason = one_line(e)
            self.journal.record(uuid, "skipped", reason=f"cannot read the node: {reason}")
            return Outcome(uuid, uuid, "skipped", f"cannot read the node: {reason}")
        name = label(node)
        planned = next((e for e in attempt if e["step"] == "planned"), None)
        if planned is None:
            verdict = model.classify(node, self.target)
            if verdict.action != "migrate":
                step = "already" if verdict.action == "already" else "skipped"
                self.journal.record(uuid, step, name=name, reason=verdict.reason)
                return Outcome(uuid, name, step, verdict.reason)
            before = {**model.switched(node), **{k: node[k] for k in (
                "maintenance", "maintenance_reason", "power_state", "provision_state")}}
            planned = self.journal.record(uuid, "planned", name=name, before=before, target=self.target)
        before = planned["before"]
        ours = "maintenance_set" in done_steps
        step = "maintenance"
        try:
            if not node["maintenance"]:
                self.bm.set_node_maintenance(uuid, MAINTENANCE_REASON)
                self.journal.record(uuid, "maintenance_set")
                ours = True
            step = "switch"
            verify = model.verify_fields(self.target)
            self._patch(uuid, {k: v for k, v in verify.items() if node.get(k) != v})
            self.journal.record(uuid, "switched", to=verify)
            step = "validate"
            self.bm.validate_node(uuid, required=("power", "management"))
            self.journal.record(uuid, "validated")
            step = "verify"
            read = self.read_power(uuid)
            had = before.get("power_state")
            if had is not None and read != had:
                raise StepFailed(step, f"the {self.target} power interface reads {read!r}, "
                                       f"Ironic had {had!r}")
            self.journal.record(uuid, "verified", read=read, had=had)
            step = "finalize"
            final = model.final_fields(before, self.target)
            self._patch(uuid, {k: v for k, v in final.items() if verify.get(k) != v})
            self.journal.record(uuid, "finalized", to=final)
            if ours:
                step = "maintenance"
                self.bm.unset_node_maintenance(uuid)
                self.journal.record(uuid, "maintenance_unset")
        except Exception as e:  # an SDK/HTTP error or StepFailed: this node fails, the run goes on
            failed_step = e.step if isinstance(e, StepFailed) else step
            reason = e.reason if isinstance(e, StepFailed) else one_line(e)
            self.journal.record(uuid, "failed", failed_step=failed_step, reason=reason)
            back = self.rollback(uuid)
            extra = {"rollback": back.result}
            if back.result != "rolled_back":
                extra["rollback_reason"] = back.reason
            return Outcome(uuid, name, "failed", reason, failed_step, extra)
        self.journal.record(uuid, "done", name=name)
        return Outcome(uuid, name, "done", extra={"power_state": read})

    # -- roll back ----------------------------------------------------------------------------

    def rollback(self, uuid: str) -> Outcome:
        """Restore the node's switched fields and maintenance as its journal recorded them."""
        entries = self.journal.entries(uuid)
        planned = [e for e in entries if e["step"] == "planned"]
        if not planned or entries[-1]["step"] in ("rolled_back", "already", "skipped"):
            name = (entries[-1].get("name") if entries else None) or uuid
            return Outcome(uuid, name, "nothing", "nothing to roll back")
        before = planned[-1]["before"]
        node = self.get(uuid)
        name = label(node)
        try:
            restore = {k: before[k] for k in model.SWITCHED if node.get(k) != before[k]}
            if restore:
                if not node["maintenance"]:
                    self.bm.set_node_maintenance(uuid, MAINTENANCE_REASON + " (rolling back)")
                self._patch(uuid, restore)
            if not before["maintenance"]:
                if node["maintenance"] or restore:
                    self.bm.unset_node_maintenance(uuid)
            elif not node["maintenance"] or node["maintenance_reason"] != before["maintenance_reason"]:
                self.bm.set_node_maintenance(uuid, before["maintenance_reason"])
            after = self.get(uuid)
            wrong = {k: after[k] for k in (*model.SWITCHED, "maintenance") if after[k] != before[k]}
            if wrong:
                raise StepFailed("rollback", f"still differs after the rollback: {wrong}")
        except Exception as e:
            reason = e.reason if isinstance(e, StepFailed) else one_line(e)
            self.journal.record(uuid, "rollback_failed", name=name, reason=reason)
            return Outcome(uuid, name, "rollback_failed", reason)
        self.journal.record(uuid, "rolled_back", name=name, restored=restore)
        return Outcome(uuid, name, "rolled_back")
