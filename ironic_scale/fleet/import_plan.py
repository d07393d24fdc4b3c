"""What to do next for one node of an import, from its journal and what Ironic shows now.

Pure functions, so that resuming is decided in one place and tested without a cloud. The
journal says which nodes this import created (by the UUID it chose before creating each
one) and which steps it finished; Ironic's provision state says where the node is now.
Ironic's state wins for where to continue (a step may have finished after the journal's
last record, or not at all); the journal decides ownership: a node of the same name that
the journal did not create is someone else's and is never touched.

Journal records (``Journal.record(name, step, status=..., uuid=...)``):
``enroll`` ``started`` (written before the create call, with the UUID), then ``ok``;
``ports`` ``ok``; ``manage`` ``ok``; ``provide`` or ``adopt`` ``ok`` (the node is done);
any step ``failed`` with its ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STEPS = ("enroll", "ports", "manage", "provide", "adopt")
FINAL_STEPS = ("provide", "adopt")

# Actions: API work, or only a journal record, or the end of the node's run.
ENROLL = "enroll"  # create the node with a new UUID (recorded first)
RECORD = "record"  # the step already happened in Ironic: only record it
PORTS = "ports"  # create the ports Ironic does not have yet
MANAGE = "manage"
PROVIDE = "provide"
ADOPT = "adopt"
WAIT = "wait"  # Ironic is already on its way: wait for ``wait_for``
DONE = "done"  # finished in an earlier run: nothing to do
CONFLICT = "conflict"  # a node of that name that this import did not create
STUCK = "stuck"  # in a state only an operator should move it out of


@dataclass(frozen=True)
class Observed:
    """What Ironic shows of a node: the fields a resume decision needs."""

    uuid: str
    provision_state: str
    last_error: str | None = None
    maintenance: bool = False
    reservation: str | None = None  # the conductor holding the node's lock, if one does


@dataclass(frozen=True)
class Next:
    """The next action for a node; ``step`` is what a failure of it is reported as."""

    action: str
    step: str
    reason: str = ""
    wait_for: str | None = None
    # manage failed in an earlier run (wrong credentials, say): apply the inventory's driver_info again
    retry: bool = False


def final_step(target: str) -> str:
    """``adopt`` for a running machine (ACTIVE), ``provide`` for an idle one (AVAILABLE)."""
    return "adopt" if target == "active" else "provide"


def our_uuids(entries: list[dict[str, Any]]) -> set[str]:
    """Every UUID this import chose for the node (a failed create leaves one that never existed)."""
    return {e["uuid"] for e in entries if e.get("step") == "enroll" and e.get("uuid")}


def _status(entries: list[dict[str, Any]], uuid: str, step: str) -> str | None:
    """The newest status recorded for ``step`` of the node with ``uuid``."""
    found = [e.get("status") for e in entries if e.get("step") == step and e.get("uuid") == uuid]
    return found[-1] if found else None


def next_action(target: str, entries: list[dict[str, Any]], observed: Observed | None) -> Next:
    """Where the import of one node continues.

    ``target`` is ``available`` or ``active``; ``entries`` the node's journal records in
    order; ``observed`` the node of that name in Ironic, or None when there is none.
    """
    if observed is None:
        # Never created, or created by us and deleted since: the inventory says it should exist.
        return Next(ENROLL, "enroll")
    if observed.uuid not in our_uuids(entries):
        return Next(CONFLICT, "enroll", f"a node with this name exists ({observed.uuid}, "
                                        f"{observed.provision_state}) that this import did not create")
    uuid, state = observed.uuid, observed.provision_state
    if any(_status(entries, uuid, s) == "ok" for s in FINAL_STEPS):
        return Next(DONE, final_step(target))
    if _status(entries, uuid, "enroll") != "ok":
        return Next(RECORD, "enroll")  # created, but stopped before the journal said so
    if _status(entries, uuid, "ports") != "ok":
        return Next(PORTS, "ports")
    final = final_step(target)
    if state == "enroll":
        return Next(MANAGE, "manage", retry=_status(entries, uuid, "manage") == "failed")
    if state == "verifying":
        return Next(WAIT, "manage", wait_for="manageable")
    if state == "manageable":
        return Next(ADOPT if target == "active" else PROVIDE, final)
    if state == target:
        return Next(RECORD, final)
    if target == "available" and state in ("cleaning", "clean wait"):
        return Next(WAIT, "provide", wait_for="available")
    if target == "active" and state == "adopting":
        return Next(WAIT, "adopt", wait_for="active")
    if target == "active" and state == "adopt failed":
        return Next(ADOPT, "adopt")  # Ironic allows adopt again from "adopt failed"
    why = f"Ironic has it in {state}"
    if observed.last_error:
        why += f" (last error: {observed.last_error})"
    if state == "clean failed":
        why += "; fix the cause, 'baremetal node manage' it, and re-run"
    else:
        why += f", not on the way to {target}: left as it is"
    return Next(STUCK, final, why)
