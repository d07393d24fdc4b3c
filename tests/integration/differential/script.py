"""The fleet layout and the script of events both Ironics are put through.

Every BMC has a role; every event happens right after a given sync cycle has completed
(Ironic's own log line), before the next one starts, so both runs see each event at the
same point of their cycle sequence. Each situation Ironic's power sync treats specially
has a role: out-of-band power changes, dead BMCs that come back, maintenance set and
cleared over REST, a node locked by a running power action, excluded and non-excluded
provision states, a wrong password, an unknown power state; plenty of untouched nodes
form the bulk of the fleet, as they do in production.

``EXPECTED_*`` say what stock Ironic does with this script. They check the script's
premises (that each situation really happened, e.g. that the reboot really held its
lock across a sync cycle); the differential test then asks the patched run to match
the stock run exactly, in more detail than these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ADDRESS = "127.180.0.1"  # first simulated BMC
CONDUCTOR = "127.101.0.1"  # the conductor's [DEFAULT]host, which is what a reservation holds
SYNC_INTERVAL = 5  # s
CYCLES = 8  # node states are read after each of sync cycles 1..CYCLES; the last read is the final state

# ironic.conf for both runs. One retry (power_state_sync_max_retries=1) sends a failing
# node to maintenance on its second failed cycle; a dead BMC fails after 1 s; recovery
# looks at nodes in maintenance for power failure every 2 s, so a revived BMC's node
# leaves maintenance within a cycle. force_power_state_during_sync keeps its default (True).
OPTIONS: dict[str, dict[str, str]] = {
    "conductor": {"power_state_sync_max_retries": "1", "power_failure_recovery_interval": "2"},
    "native_ipmi": {"command_timeout": "1", "retry_interval": "0.25"},
}

# Node fields compared at every checkpoint and at the end.
FIELDS = ("power_state", "target_power_state", "provision_state", "maintenance", "maintenance_reason",
          "fault", "last_error", "reservation", "boot_mode", "secure_boot", "properties")


@dataclass(frozen=True)
class Role:
    name: str
    power: str  # host power at enrollment ("on"/"off"), which is also the node's power_state
    settle: float = 0.0  # seconds before a power action shows in the BMC's status (simulator knob)


ROLES: tuple[Role, ...] = (
    *(Role(f"steady-{i}", "on" if i % 2 else "off") for i in range(1, 13)),
    Role("flip-on", "on"),  # host switched off out of band: sync switches it back on
    Role("flip-off", "off"),  # switched on out of band, twice: sync switches it off, twice
    Role("dead-on", "on"),  # BMC silent: retries, maintenance; back: recovery, last_error cleared
    Role("dead-off", "off"),  # the same, and its host is switched on while the BMC is silent
    Role("maint-temp", "on"),  # maintenance over REST, switched off meanwhile: corrected only after
    Role("maint-kept", "off"),  # maintenance over REST, switched on meanwhile: never corrected
    # A REST reboot whose off and on each take 3.5 s to show: the node stays reserved, with a
    # target_power_state, across the next sync cycle, while its BMC reports "off" against the
    # database's "on" (what a sync that ignored the lock would "correct").
    Role("locked", "on", settle=3.5),
    Role("deploy-wait", "off"),  # wait call-back (a sync-excluded state), switched on: never corrected
    Role("inspect-wait", "off"),  # inspect wait (not excluded), switched on: corrected
    Role("wrong-password", "on"),  # wrong ipmi_password in driver_info: retries, maintenance
    Role("unknown-power", "on"),  # power_state NULL in the database: recorded from the BMC, no action
    # The rest are nodes whose power matches the database, yet stock's sync still changes
    # them: a bulk path that took "equal" for "nothing to do" would leave them as they were.
    Role("flaky", "on"),  # BMC silent for one cycle, twice, a good cycle between: never maintenance
    Role("failed-action", "on"),  # a REST power off failed (BMC silent): last_error, cleared by a match
    Role("stale-boot-mode", "off"),  # boot_mode/secure_boot left by another driver: nulled
    Role("no-vendor", "on"),  # properties without a vendor: detected and cached
)
ROLE_NAMES = tuple(r.name for r in ROLES)


@dataclass(frozen=True)
class Event:
    """One change made between two sync cycles; ``runner.APPLY`` knows how to make each kind."""

    kind: str  # power | kill | revive | maintenance | clear_maintenance | reboot | provision_state
    #            | password | forget_power_state | failed_power_action | stale_boot_mode | remove_vendor
    role: str
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.role}" + (f" {self.value}" if self.value else "")


# Events after sync cycle k.
STEPS: dict[int, tuple[Event, ...]] = {
    1: (
        Event("power", "flip-on", "off"),
        Event("power", "flip-off", "on"),
        Event("kill", "dead-on"),
        Event("kill", "dead-off"),
        Event("maintenance", "maint-temp", "differential test: admin"),
        Event("maintenance", "maint-kept", "differential test: admin"),
        Event("provision_state", "deploy-wait", "wait call-back"),
        Event("power", "deploy-wait", "on"),
        Event("provision_state", "inspect-wait", "inspect wait"),
        Event("power", "inspect-wait", "on"),
        Event("password", "wrong-password", "not-the-password"),
        Event("forget_power_state", "unknown-power"),
        Event("kill", "flaky"),
        Event("stale_boot_mode", "stale-boot-mode", "uefi"),
        Event("remove_vendor", "no-vendor"),
    ),
    2: (  # the dead BMCs, the flaky one and the wrong password have failed once
        Event("power", "maint-temp", "off"),
        Event("power", "maint-kept", "on"),
        Event("power", "dead-off", "on"),
        Event("revive", "flaky"),
    ),
    3: (  # the dead BMCs and the wrong password are in maintenance now; flaky's count is back to 0
        Event("power", "flip-off", "on"),
        Event("clear_maintenance", "maint-temp"),
        Event("kill", "flaky"),
    ),
    4: (
        Event("revive", "dead-on"),
        Event("revive", "dead-off"),
        Event("revive", "flaky"),
    ),
    5: (Event("reboot", "locked"),),
    # Kill the BMC, ask for power off over REST, wait for the failure's last_error, revive.
    6: (Event("failed_power_action", "failed-action", "power off"),),
}

# What depends on timing outside the sync cycle sequence, so differs between two correct
# runs, and is left out of the checkpoint comparison (never out of the final one):
# - a revived BMC's node leaves maintenance when Ironic's separate recovery periodic
#   next runs, before or after the following sync cycle starts; that cycle then clears
#   its last_error, or the one after it does;
# - the locked node's reboot ends after Ironic's back-off polls (random jitter) have seen
#   "off", then "on": that is between the second and third checkpoints after it.
# kind -> (checkpoints after the event's cycle, fields; None = all)
UNSETTLED: dict[str, tuple[tuple[int, ...], tuple[str, ...] | None]] = {
    "revive": ((1,), None),
    "reboot": ((2,), ("target_power_state", "reservation")),
}
RECOVERED_BY_PERIODIC = ("dead-on", "dead-off")  # revived while in maintenance (flaky never is)


def masked() -> dict[tuple[int, str], tuple[str, ...]]:
    """(checkpoint, role) -> fields that the checkpoint comparison leaves out."""
    out: dict[tuple[int, str], tuple[str, ...]] = {}
    for k, events in STEPS.items():
        for event in events:
            if event.kind == "revive" and event.role not in RECOVERED_BY_PERIODIC:
                continue
            if event.kind in UNSETTLED:
                offsets, fields = UNSETTLED[event.kind]
                for offset in offsets:
                    out[(k + offset, event.role)] = fields or FIELDS
    return out


# -- what stock Ironic does with this script (the premises) ----------------------------

EXPECTED_POWER_LOGS: dict[str, list[str]] = {  # Chassis Control requests; every other BMC: none
    "flip-on": ["on"],
    "flip-off": ["off", "off"],
    "maint-temp": ["on"],
    "locked": ["off", "on"],  # the REST reboot's own two actions, nothing from the sync
    "inspect-wait": ["off"],
}
FAILED = {"maintenance": True, "fault": "power failure"}
RECOVERED = {"maintenance": False, "fault": None, "last_error": None, "maintenance_reason": None}
EXPECTED_AT: dict[tuple[int, str], dict[str, Any]] = {
    (2, "unknown-power"): {"power_state": "power on"},
    (2, "dead-on"): {"maintenance": False, "power_state": "power on"},  # one failure: a warning only
    (3, "dead-on"): {**FAILED, "power_state": None},
    (3, "dead-off"): {**FAILED, "power_state": None},
    (3, "wrong-password"): {**FAILED, "power_state": None},
    (3, "maint-temp"): {"maintenance": True, "power_state": "power on"},  # switched off, not corrected
    (6, "locked"): {"target_power_state": "power on", "reservation": CONDUCTOR, "power_state": "power on"},
    (CYCLES, "dead-on"): {**RECOVERED, "power_state": "power on"},
    (CYCLES, "dead-off"): {**RECOVERED, "power_state": "power on"},  # what recovery found
    (CYCLES, "maint-temp"): {"maintenance": False, "power_state": "power on"},
    (CYCLES, "maint-kept"): {"maintenance": True, "power_state": "power off"},
    (CYCLES, "locked"): {"target_power_state": None, "reservation": None, "power_state": "power on"},
    (CYCLES, "deploy-wait"): {"provision_state": "wait call-back", "power_state": "power off"},
    (CYCLES, "inspect-wait"): {"provision_state": "inspect wait", "power_state": "power off"},
    (CYCLES, "wrong-password"): {**FAILED, "power_state": None},
    (2, "flaky"): {"maintenance": False, "power_state": "power on"},
    (4, "flaky"): {"maintenance": False, "power_state": "power on", "last_error": None},
    (CYCLES, "flaky"): {"maintenance": False, "power_state": "power on", "last_error": None},
    (7, "failed-action"): {"last_error": None, "power_state": "power on", "maintenance": False},
    (2, "stale-boot-mode"): {"boot_mode": None, "secure_boot": None},
    (1, "no-vendor"): {"properties": {"vendor": "unknown"}},  # as enrolled
    (2, "no-vendor"): {"properties": {"vendor": "iana-0"}},  # what native-ipmi detects on the simulator
}
# Lines stock's conductor log must hold (normalised: node UUIDs as <role>), proving that an
# event whose effect leaves no trace in the final fields really happened and was acted on.
EXPECTED_LOG: dict[str, tuple[str, int]] = {  # role -> (text, times)
    "stale-boot-mode": ("Updated boot_mode None, secure_boot None for node <stale-boot-mode>", 1),
    "no-vendor": ("Detected vendor iana-0 for node <no-vendor>", 1),
    "unknown-power": ("node <unknown-power> has no previous known state. Recording current state", 1),
    "failed-action": ("Clearing last_error for node <failed-action> after confirmed power state match", 1),
    "flaky": ("could not get power state for node <flaky>, attempt 1 of 1", 2),  # the count was reset
}
EXPECTED_BMC_POWER: dict[str, str] = {  # at the end; every other BMC as enrolled
    "dead-off": "on", "maint-kept": "on", "deploy-wait": "on",
}
