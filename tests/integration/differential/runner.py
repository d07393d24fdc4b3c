"""Play the script against one Ironic and record what happened: a ``Trace``.

Everything is real: a fresh simulator per run (so both runs start from equal BMCs at
equal addresses), a fresh all-in-one Ironic on SQLite with its own schema, nodes enrolled
through Ironic's object layer (``ironic_scale.stack.enroll``), Ironic's own sync loop.
The script is driven by sync cycles: wait for cycle k's "Completed power state sync
operation" log line (a deadline, never a fixed sleep), read every node over REST, then
make the events of step k. A run whose events were still being made when the next cycle
began is refused as a harness failure: it would not compare like with like.

How each event is made, and why it is honest:

- power: the simulator's out-of-band power op (as someone at the machine).
- kill / revive: the simulator's ``dead`` knob (the BMC answers nothing, then again).
- maintenance / clear_maintenance: Ironic's REST API, as an operator does.
- reboot: Ironic's REST API; the BMC's ``settle`` knob makes each half take seconds.
- password, remove_vendor: a REST PATCH of driver_info/ipmi_password, properties/vendor.
- failed_power_action: the BMC made dead, a REST power action that fails on it (waited
  for over REST: last_error set, lock released), the BMC revived.
- stale_boot_mode: an UPDATE of boot_mode/secure_boot, as another driver (e.g. redfish,
  before the node moved to native-ipmi) leaves them; the REST API cannot write them.
- provision_state, forget_power_state: an UPDATE of the node's row in SQLite. Reaching
  ``wait call-back`` through a real deploy needs images, a network and a ramdisk that
  calls back; the power sync reads nothing of a deploy but these columns (provision_state,
  with target_provision_state and provision_updated_at as a deploy leaves them), and it
  reads them from the database on every cycle, so the row is exactly what it sees
  mid-deploy. A NULL power_state is what a node has before its first successful read.
"""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.density.cycles import Cycle, CycleWatcher
from ironic_scale.sim import inventory
from ironic_scale.sim.launcher import RunningFleet, start_fleet
from ironic_scale.stack import enroll
from ironic_scale.stack.processes import Stack, StackSpec
from ironic_scale.stack.rest import ApiError, IronicClient
from tests.integration.differential import script

CYCLE_TIMEOUT = 60.0  # s for one sync cycle to complete (they take a few at most)
API_BUSY_TIMEOUT = 30.0  # s to retry a REST change that finds the node locked (HTTP 409)


class HarnessError(AssertionError):
    """The run did not follow the script (an event overlapped a cycle, an API call failed)."""


@dataclass(frozen=True)
class Side:
    """One Ironic to run: stock, or patched (a patched copy first on PYTHONPATH, options)."""

    name: str
    python_path: tuple[str, ...] = ()
    options: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Trace:
    """What one run saw. Node states are keyed by role, never by UUID (those differ per run)."""

    side: str
    uuids: dict[str, str]  # role -> node UUID in this run
    cycles: list[Cycle] = field(default_factory=list)  # cycles 1..CYCLES, from the conductor log
    checkpoints: list[dict[str, dict[str, Any]]] = field(default_factory=list)  # after each cycle
    events: list[tuple[int, float, float, list[str]]] = field(default_factory=list)  # k, start, end, what
    power_logs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # role -> [(t, action)]
    bmc_power: dict[str, str] = field(default_factory=dict)  # role -> host power at the end
    log_lines: list[str] = field(default_factory=list)  # the conductor's log
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        return self.checkpoints[-1]


class Run:
    """One side: its simulator, its Ironic, and the script played against them."""

    def __init__(self, side: Side, work: Path):
        self.side, self.work = side, work
        self.fleet: RunningFleet | None = None
        self.stack: Stack | None = None
        self.client: IronicClient | None = None
        self.endpoints: dict[str, inventory.Endpoint] = {}
        self.uuids: dict[str, str] = {}

    # -- setup -----------------------------------------------------------------------

    def _start_fleet(self) -> None:
        sim_dir = self.work / "sim"
        sim_dir.mkdir(parents=True)
        self.fleet = start_fleet(len(script.ROLES), ("--address", script.ADDRESS), run_dir=str(sim_dir))
        eps = dict(zip(script.ROLE_NAMES, self.fleet.endpoints, strict=True))
        on = [eps[r.name].key for r in script.ROLES if r.power == "on"]
        self.fleet.power(on, "on")
        for role in script.ROLES:
            if role.settle:
                self.fleet.control.set([eps[role.name].key], settle=role.settle)
        self.endpoints = {r.name: dataclasses.replace(eps[r.name], power=r.power) for r in script.ROLES}

    def _start_stack(self) -> CycleWatcher:
        options = {s: dict(o) for s, o in script.OPTIONS.items()}
        for section, opts in self.side.options.items():
            options.setdefault(section, {}).update(opts)
        self.stack = Stack(StackSpec(work=self.work / "stack", sync_interval=script.SYNC_INTERVAL,
                                     conductor_base=script.CONDUCTOR, options=options,
                                     python_path=self.side.python_path))
        self.stack.prepare()
        inv = self.work / "inventory.jsonl"
        inventory.write(inv, list(self.endpoints.values()))
        enroll.run_enroll(self.stack.config_files(), inv, "native-ipmi")
        watcher = CycleWatcher(Path(self.stack.conductors[0].log))
        self.stack.launch()
        self.client = IronicClient(self.stack.state.url)
        names = {enroll.node_name(ep.address, ep.port): role for role, ep in self.endpoints.items()}
        self.uuids = {names[n["name"]]: n["uuid"] for n in self.client.nodes() if n["name"] in names}
        if set(self.uuids) != set(script.ROLE_NAMES):
            raise HarnessError(f"enrolled nodes {sorted(self.uuids)} are not the roles {script.ROLE_NAMES}")
        return watcher

    # -- the run ---------------------------------------------------------------------

    def play(self) -> Trace:
        started = time.monotonic()
        try:
            self._start_fleet()
            watcher = self._start_stack()
            trace = Trace(side=self.side.name, uuids=dict(self.uuids))
            alive = lambda: all(self.stack.running().values())  # noqa: E731
            for k in range(1, script.CYCLES + 1):
                cycle = watcher.next_cycle(CYCLE_TIMEOUT, alive)
                trace.checkpoints.append(self._read_nodes())
                trace.cycles.append(cycle)
                if trace.events and cycle.start <= trace.events[-1][2]:
                    _, _, end, what = trace.events[-1]
                    raise HarnessError(
                        f"{self.side.name}: cycle {k} started at {cycle.start:.3f}, before the events "
                        f"after cycle {k - 1} were all made ({end:.3f}: {what}); lengthen "
                        "SYNC_INTERVAL or shorten the events")
                if k in script.STEPS:
                    t0 = time.time()
                    for event in script.STEPS[k]:
                        self.apply(event)
                    trace.events.append((k, t0, time.time(), [str(e) for e in script.STEPS[k]]))
            for role, ep in self.endpoints.items():
                state = self.fleet.control.state(ep.key)
                trace.power_logs[role] = [(t, a) for t, a in state["power_log"]]
                trace.bmc_power[role] = state["power"]
        finally:
            self.close()
        trace.log_lines = Path(self.stack.conductors[0].log).read_text(errors="replace").splitlines()
        trace.seconds = round(time.monotonic() - started, 1)
        return trace

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.fleet is not None:
            self.fleet.stop()

    def _read_nodes(self) -> dict[str, dict[str, Any]]:
        by_uuid = {n["uuid"]: n for n in self.client.nodes()}
        return {role: {f: by_uuid[uuid][f] for f in script.FIELDS} for role, uuid in self.uuids.items()}

    # -- events ----------------------------------------------------------------------

    def apply(self, event: script.Event) -> None:
        APPLY[event.kind](self, event.role, event.value)

    def _rest(self, method: str, path: str, body: Any = None) -> Any:
        """A REST change; a node briefly locked by a periodic (HTTP 409) is tried again."""
        deadline = time.monotonic() + API_BUSY_TIMEOUT
        while True:
            try:
                return self.client.request(method, path, body)
            except ApiError as e:
                if e.code != 409 or time.monotonic() > deadline:
                    raise HarnessError(f"{self.side.name}: {e}") from None
            time.sleep(0.1)

    def _update_row(self, role: str, **columns: Any) -> None:
        db = sqlite3.connect(self.stack.work / "ironic.sqlite", timeout=30)
        try:
            with db:
                sets = ", ".join(f"{c} = ?" for c in columns)
                cur = db.execute(f"UPDATE nodes SET {sets} WHERE uuid = ?",
                                 (*columns.values(), self.uuids[role]))
                if cur.rowcount != 1:
                    raise HarnessError(f"no node row for {role}")
        finally:
            db.close()

    def _node(self, role: str) -> str:
        return f"/v1/nodes/{self.uuids[role]}"


def _power(run: Run, role: str, state: str) -> None:
    run.fleet.control.power([run.endpoints[role].key], state)


def _kill(run: Run, role: str, _: str) -> None:
    run.fleet.control.set([run.endpoints[role].key], dead=True)


def _revive(run: Run, role: str, _: str) -> None:
    run.fleet.control.set([run.endpoints[role].key], dead=False)


def _maintenance(run: Run, role: str, reason: str) -> None:
    run._rest("PUT", run._node(role) + "/maintenance", {"reason": reason})


def _clear_maintenance(run: Run, role: str, _: str) -> None:
    run._rest("DELETE", run._node(role) + "/maintenance")


def _reboot(run: Run, role: str, _: str) -> None:
    run._rest("PUT", run._node(role) + "/states/power", {"target": "rebooting"})


def _password(run: Run, role: str, password: str) -> None:
    run._rest("PATCH", run._node(role), [{"op": "replace", "path": "/driver_info/ipmi_password",
                                          "value": password}])


# What a deploy (or inspection) that reached the wait state leaves in the row.
_TARGETS = {"wait call-back": "active", "inspect wait": "manageable"}


def _provision_state(run: Run, role: str, state: str) -> None:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat(sep=" ")
    run._update_row(role, provision_state=state, target_provision_state=_TARGETS[state],
                    provision_updated_at=now)


def _forget_power_state(run: Run, role: str, _: str) -> None:
    run._update_row(role, power_state=None)


def _stale_boot_mode(run: Run, role: str, boot_mode: str) -> None:
    run._update_row(role, boot_mode=boot_mode, secure_boot=True)


def _remove_vendor(run: Run, role: str, _: str) -> None:
    run._rest("PATCH", run._node(role), [{"op": "remove", "path": "/properties/vendor"}])


def _failed_power_action(run: Run, role: str, target: str) -> None:
    _kill(run, role, "")
    run._rest("PUT", run._node(role) + "/states/power", {"target": target})
    try:
        run.client.wait_for(run._node(role), lambda n: bool(n["last_error"]) and not n["target_power_state"]
                            and not n["reservation"], f"{role}: the failed power action to end",
                            timeout=API_BUSY_TIMEOUT)
    except AssertionError as e:
        raise HarnessError(f"{run.side.name}: {e}") from None
    _revive(run, role, "")


APPLY: dict[str, Callable[[Run, str, str], None]] = {
    "power": _power, "kill": _kill, "revive": _revive, "maintenance": _maintenance,
    "clear_maintenance": _clear_maintenance, "reboot": _reboot, "password": _password,
    "provision_state": _provision_state, "forget_power_state": _forget_power_state,
    "stale_boot_mode": _stale_boot_mode, "remove_vendor": _remove_vendor,
    "failed_power_action": _failed_power_action,
}


def play(side: Side, work: Path) -> Trace:
    """Run the whole script against ``side`` in ``work`` (created); everything is stopped after."""
    return Run(side, work).play()
