"""Rebalance, measured: one conductor stops, crashes or joins; who polls which BMC, and when.

A real Ironic (API + N conductors) syncs power on a simulated fleet. Every conductor
sends its IPMI traffic from its own loopback address, and the simulator records, per
BMC and source address, the Get Chassis Status reads (with the time of the latest)
and the session slots held now (``SimControl.requesters``). That tells, without
reading any Ironic log, which conductor polled a node and which holds its session.

Steps: wait for a steady state (every node polled by its predicted owner alone);
predict the owners after the event with Ironic's own ring (``ironic_scale.sharding``);
at t0 stop (SIGTERM), kill (SIGKILL) or add a conductor; sample the simulator every
``sample_interval`` s. Reported: the moved nodes against the prediction; the time
from t0 until each moved node was first polled by its new owner, against Ironic's
bounds (``hash_ring_reset_interval``, ``heartbeat_timeout``, the sync interval);
over one sync interval after the ring settled, nodes polled by two sources or by a
source other than the predicted owner; and the sessions: when the old owner stopped
holding a slot on the moved BMCs (logout, or expiry on the BMC), and the most slots
one BMC held once settled.
"""

from __future__ import annotations

import statistics
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.bench.progress import Progress
from ironic_scale.density import placement
from ironic_scale.sharding import ring, sources
from ironic_scale.sharding.model import DEFAULT_ALGORITHM, DEFAULT_EXPONENT, Cluster, Conductor, RingSettings
from ironic_scale.sharding.settings import Timing
from ironic_scale.sim.launcher import RunningFleet
from ironic_scale.stack.processes import ProcessInfo, Stack, StackFailed

EVENTS = ("stop", "kill", "add")


class RebalanceFailed(StackFailed):
    """The cluster never reached the state a measurement needs (steady polling, a live conductor)."""


def ironic_defaults() -> dict[str, dict[str, Any]]:
    """Ironic's own defaults of the options that decide how fast nodes move."""
    from ironic.conf import conductor, default

    return {"DEFAULT": {o.name: o.default for o in default.hash_opts},
            "conductor": {o.name: o.default for o in conductor.opts}}


def timing(options: dict[str, dict[str, str]], sync_interval: int) -> Timing:
    """``Timing`` from Ironic's defaults, ``options`` (ironic.conf overrides) winning."""
    d = ironic_defaults()
    for section, values in options.items():
        if section in d:
            d[section].update({k: v for k, v in values.items() if k in d[section]})
    c = d["conductor"]
    return Timing(int(d["DEFAULT"]["hash_ring_reset_interval"]), int(c["heartbeat_interval"]),
                  int(c["heartbeat_timeout"]), int(c["graceful_shutdown_timeout"]),
                  int(c["sync_local_state_interval"]), int(c["periodic_max_workers"]),
                  int(c["check_provision_state_interval"]), int(sync_interval))


def ring_settings(options: dict[str, dict[str, str]]) -> RingSettings:
    d = options.get("DEFAULT", {})
    return RingSettings(exponent=int(d.get("hash_partition_exponent", DEFAULT_EXPONENT)),
                        algorithm=d.get("hash_ring_algorithm", DEFAULT_ALGORITHM))


def after_event(cluster: Cluster, event: str, victim: str | None, joiner: str | None) -> Cluster:
    """The cluster as the rings will see it once the event has settled."""
    live = [c for c in cluster.conductors if c.alive]
    if event in ("stop", "kill"):
        if victim not in {c.name for c in live}:
            raise RebalanceFailed(f"{victim} is not a live conductor ({', '.join(c.name for c in live)})")
        live = [c for c in live if c.name != victim]
    else:
        model = live[0]
        live = [*live, Conductor(name=joiner or "", group=model.group, hardware_types=model.hardware_types)]
    return Cluster(live, cluster.nodes, source=f"{cluster.source}, after {event}")


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"max": round(max(values), 2), "median": round(statistics.median(values), 2),
            "min": round(min(values), 2)}


def _pollers(entry: dict[str, Any]) -> set[str]:
    return {src for src, s in entry["sources"].items() if s["status_reads"]}


def _classify(got: dict[str, Any], want: dict[str, str]) -> tuple[list, list, list]:
    """Per BMC of ``want`` (BMC key -> predicted source) in a ``requesters`` reply: the ones
    polled by several sources, by one other than predicted, and by none."""
    double, wrong, unpolled = [], [], []
    for key, source in want.items():
        pollers = _pollers(got["requesters"].get(key, {"sources": {}}))
        if not pollers:
            unpolled.append(key)
        elif len(pollers) > 1:
            double.append({"bmc": key, "sources": sorted(pollers)})
        elif pollers != {source}:
            wrong.append({"bmc": key, "source": pollers.pop(), "predicted": source})
    return double, wrong, unpolled


@dataclass
class Options:
    """How the measurement runs (the stack and fleet are given)."""

    event: str
    sync_interval: int
    session_timeout: float
    idle_timeout: float
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # the stack's ironic.conf overrides
    victim: str | None = None  # conductor to stop or kill (process or registered name); default: the first
    sample_interval: float = 0.5
    # A sync cycle needs time to reach a given node: allowed on top of Ironic's bounds.
    cycle_allowance: float = 0.0
    steady_timeout: float = 0.0  # 0: 6 sync intervals + 60 s

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}, not {self.event!r}")
        if not self.cycle_allowance:
            self.cycle_allowance = max(5.0, 0.25 * self.sync_interval)
        if not self.steady_timeout:
            self.steady_timeout = 6 * self.sync_interval + 60.0


class Rebalance:
    """One event on a running stack and fleet, measured from the simulator's side."""

    def __init__(self, stack: Stack, fleet: RunningFleet, opts: Options, progress: Progress | None = None):
        self.stack = stack
        self.fleet = fleet
        self.control = fleet.control
        self.opts = opts
        self.progress = progress or Progress()
        self.timing = timing(opts.options, opts.sync_interval)
        self.settings = ring_settings(opts.options)
        self.samples: list[dict[str, Any]] = []

    # -- helpers ---------------------------------------------------------------------

    def _sources(self) -> dict[str, str]:
        """Registered name -> source address of every conductor the stack ever ran."""
        return {p.registered_name: p.source_address for p in self.stack.conductors}

    def _window(self) -> float:
        """Long enough for one full sync cycle of every conductor to fall inside."""
        return self.opts.sync_interval + self.opts.cycle_allowance

    def _poll_check(self, want: dict[str, str]) -> dict[str, Any]:
        """Reset the counts, wait one window, then: per BMC, who polled it, against ``want``."""
        self.control.requesters(reset=True, detail=False)
        time.sleep(self._window())
        got = self.control.requesters(list(want), detail=True)
        double, wrong, unpolled = _classify(got, want)
        return {"window_seconds": round(self._window(), 1), "bmcs": len(want),
                "double_polled": len(double), "not_predicted_source": len(wrong),
                "not_polled": len(unpolled), "examples": {"double": double[:5], "wrong": wrong[:5],
                                                          "not_polled": unpolled[:5]},
                "held_max": got["held_max"], "shared_now": got["shared_now"]}

    def wait_steady(self, want: dict[str, str]) -> dict[str, Any]:
        """Until one window shows every BMC polled by its predicted source alone."""
        deadline = time.monotonic() + self.opts.steady_timeout
        while True:
            check = self._poll_check(want)
            if not (check["double_polled"] or check["not_predicted_source"] or check["not_polled"]):
                return check
            self.progress.note(f"      not steady yet: {check['double_polled']} double, "
                               f"{check['not_predicted_source']} wrong source, "
                               f"{check['not_polled']} not polled")
            if time.monotonic() > deadline:
                raise RebalanceFailed(f"no steady state in {self.opts.steady_timeout:.0f} s: {check}")

    def _sample(self, keys: list[str]) -> dict[str, Any]:
        detail = self.control.requesters(keys, detail=True) if keys else {"requesters": {}}
        total = self.control.requesters(detail=False)
        s = {"t": total["now"], "bmcs": detail["requesters"], "held_max": total["held_max"],
             "shared_now": total["shared_now"]}
        self.samples.append(s)
        return s

    # -- the measurement -------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        opts, stack = self.opts, self.stack
        client = stack.client
        keys = placement.bmc_keys(client)
        with warnings.catch_warnings():  # openstacksdk frowns on "latest", which a noauth endpoint needs
            warnings.simplefilter("ignore")
            conn = sources.connect(endpoint=stack.state.url)
            before_cluster = sources.from_api(conn)
        before = ring.predict(before_cluster, self.settings)
        api_disagree = sum(before[n.uuid] != n.conductor for n in before_cluster.nodes)
        src = self._sources()
        self.progress.begin(f"steady state: every BMC polled by its predicted owner alone "
                            f"({len(keys)} nodes, windows of {self._window():.0f} s)")
        steady = self.wait_steady({keys[u]: src[o] for u, o in before.items()})
        self.progress.note(f"      steady: held_max {steady['held_max']}")

        victim: ProcessInfo | None = None
        joiner: ProcessInfo | None = None
        if opts.event == "add":
            joiner = stack.plan_conductor()
            src[joiner.registered_name] = joiner.source_address
        else:
            alive = [p for p in stack.conductors if p.pid]
            victim = next((p for p in alive if opts.victim in (p.name, p.registered_name)), None) \
                if opts.victim else alive[0]
            if victim is None:
                raise RebalanceFailed(f"no running conductor {opts.victim!r}")
        after_cluster = after_event(before_cluster, opts.event, victim and victim.registered_name,
                                    joiner and joiner.registered_name)
        after = ring.predict(after_cluster, self.settings)
        moved = {u: (before[u], after[u]) for u in before if before[u] != after[u]}
        moved_keys = {keys[u]: (src[o], src[n]) for u, (o, n) in moved.items()}
        expected_moved = ({u for u, o in before.items() if o == victim.registered_name} if victim
                          else {u for u, n in after.items() if n == joiner.registered_name})
        self.progress.begin(f"{opts.event}: {victim.name + ' ' + victim.registered_name if victim else ''}"
                            f"{joiner.name + ' ' + joiner.registered_name if joiner else ''}; "
                            f"{len(moved)} nodes predicted to move")

        # t0: the event, in a thread (a graceful stop takes up to ring reset + graceful timeout).
        event_result: dict[str, Any] = {}
        self.control.requesters(reset=True, detail=False)
        t0 = time.monotonic()
        worker = threading.Thread(target=self._event, args=(victim, joiner, t0, event_result), daemon=True)
        worker.start()

        first_poll: dict[str, float] = {}  # BMC -> first status read by its new owner
        old_polls_after: dict[str, float] = {}  # BMC -> latest read by its old owner after t0
        bound = self._bound(event_result)
        deadline = t0 + 2 * bound + 60
        while len(first_poll) < len(moved_keys):
            s = self._sample(list(moved_keys))
            self._note_polls(s, moved_keys, t0, first_poll, old_polls_after)
            if "error" in event_result:
                raise RebalanceFailed(f"the {opts.event} failed: {event_result['error']}")
            if s["t"] > deadline:
                break
            time.sleep(opts.sample_interval)
        bound = self._bound(event_result)  # add: known once the new conductor is alive
        all_moved = len(first_poll) == len(moved_keys)
        self.progress.note(f"      {len(first_poll)}/{len(moved_keys)} moved nodes polled by their new owner"
                           + (f", the last {max(first_poll.values()) - t0:.1f} s after t0"
                              if first_poll else ""))

        # Settled: every process's ring cache has expired since the last move was seen.
        settled_at = (max(first_poll.values()) if first_poll else time.monotonic()) \
            + self.timing.hash_ring_reset_interval
        self._sample_until(settled_at, moved_keys, t0, first_poll, old_polls_after)
        worker.join(timeout=max(0.0, t0 + bound + 300 - time.monotonic()))
        self.progress.begin(f"settled at t0+{settled_at - t0:.1f} s; one window of {self._window():.0f} s: "
                            "who polls each BMC")
        self.control.requesters(reset=True, detail=False)
        window_start = time.monotonic()
        self._sample_until(window_start + self._window(), moved_keys, t0, first_poll, old_polls_after)
        got = self.control.requesters(list(keys.values()), detail=True)
        after_src = {keys[u]: src[o] for u, o in after.items() if o}
        double, wrong, unpolled = _classify(got, after_src)
        # Observed moves: BMCs whose one poller now differs from their one poller before the event.
        before_src = {keys[u]: src[o] for u, o in before.items()}
        observed = {k for k, e in got["requesters"].items()
                    if len(_pollers(e)) == 1 and _pollers(e) != {before_src.get(k)}}

        # Sessions: until the old owners hold no slot on the moved BMCs (logout or expiry).
        release_deadline = max(window_start + self._window(),
                               t0 + bound + max(opts.session_timeout, opts.idle_timeout) + 30)
        self.progress.begin("sessions: waiting until the old owners hold no slot on the moved BMCs "
                            f"(at most t0+{release_deadline - t0:.0f} s)")
        released_at = self._wait_released(moved_keys, release_deadline, t0, first_poll, old_polls_after)
        steady_from = time.monotonic()
        self._sample_until(steady_from + max(3.0, 4 * opts.sample_interval), moved_keys, t0, first_poll,
                           old_polls_after)
        final = self.control.requesters(list(keys.values()), detail=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            api_after = {n.id: n.conductor for n in conn.baremetal.nodes(details=True)}

        delays = [first_poll[k] - t0 for k in moved_keys if k in first_poll]
        sessions = self._sessions(moved_keys, t0, settled_at, released_at, steady_from, event_result, final,
                                  after_src)
        return {
            "event": opts.event,
            "victim": victim and {"name": victim.name, "registered_name": victim.registered_name,
                                  "source_address": victim.source_address},
            "joiner": joiner and {"name": joiner.name, "registered_name": joiner.registered_name,
                                  "source_address": joiner.source_address},
            "conductors_before": sorted(c.name for c in before_cluster.conductors if c.alive),
            "conductors_after": sorted(c.name for c in after_cluster.conductors),
            "nodes": len(keys),
            "ring": asdict(self.settings),
            "timing": asdict(self.timing),
            "api_disagreed_before": api_disagree,
            "steady_before": steady,
            "event_seconds": event_result.get("seconds"),
            "moved": {
                "count": len(moved), "predicted_from": "ironic_scale.sharding.ring.predict",
                "observed": len(observed),
                "equals_prediction": observed == set(moved_keys),
                "observed_not_predicted": sorted(observed - set(moved_keys))[:5],
                "predicted_not_observed": sorted(set(moved_keys) - observed)[:5],
                # Consistent hashing: only the stopped conductor's nodes move, or only to the new one.
                "only_the_changed_conductors_nodes": set(moved) == expected_moved,
                "by_owner": _count_pairs(moved.values()),
            },
            "first_poll_by_new_owner": {
                "polled": len(delays), "of": len(moved_keys), "seconds_after_t0": _spread(delays),
                "bound_seconds": round(bound, 1), "bound": self._bound_text(event_result),
                "cycle_allowance_seconds": opts.cycle_allowance,
                "within_bound": all_moved and bool(delays) and max(delays) <= bound + opts.cycle_allowance
                if delays else not moved_keys,
                "old_owner_polls_after_t0": len(old_polls_after),
                "old_owner_last_poll_after_t0": round(max(old_polls_after.values()) - t0, 2)
                if old_polls_after else None,
            },
            "after_settle": {
                "settled_after_t0": round(settled_at - t0, 2), "window_seconds": round(self._window(), 1),
                "double_polled": len(double), "not_predicted_source": len(wrong), "not_polled": len(unpolled),
                "examples": {"double": double[:5], "wrong": wrong[:5], "not_polled": unpolled[:5]},
                "api_disagrees_with_prediction": sum(api_after.get(u) != o for u, o in after.items()),
            },
            "sessions": sessions,
        }

    def _event(self, victim: ProcessInfo | None, joiner: ProcessInfo | None, t0: float,
               out: dict[str, Any]) -> None:
        try:
            if self.opts.event == "stop":
                self.stack.stop_conductor(victim.name)
            elif self.opts.event == "kill":
                self.stack.kill_conductor(victim.name)
            else:
                self.stack.add_conductor(joiner)
            out["seconds"] = round(time.monotonic() - t0, 2)
        except Exception as e:  # noqa: BLE001 - reported by the sampling loop
            out["error"] = f"{type(e).__name__}: {e}"

    def _bound(self, event_result: dict[str, Any]) -> float:
        t = self.timing
        if self.opts.event == "stop":
            return t.first_poll_after_stop()
        if self.opts.event == "kill":
            return t.first_poll_after_crash()
        # add: the new conductor must be alive first (measured), then every ring refreshes.
        return (event_result.get("seconds") or 0.0) + t.hash_ring_reset_interval + t.sync_power_state_interval

    def _bound_text(self, event_result: dict[str, Any]) -> str:
        if self.opts.event == "stop":
            return "hash_ring_reset_interval + sync interval"
        if self.opts.event == "kill":
            return "heartbeat_timeout + hash_ring_reset_interval + sync interval"
        return (f"time until the new conductor is alive ({event_result.get('seconds')} s) + "
                "hash_ring_reset_interval + sync interval")

    def _note_polls(self, s: dict[str, Any], moved_keys: dict[str, tuple[str, str]], t0: float,
                    first_poll: dict[str, float], old_polls_after: dict[str, float]) -> None:
        for key, (old, new) in moved_keys.items():
            entry = s["bmcs"].get(key)
            if not entry:
                continue
            n = entry["sources"].get(new)
            if key not in first_poll and n and n["last_status"] is not None and n["last_status"] >= t0:
                first_poll[key] = n["last_status"]
            o = entry["sources"].get(old)
            if o and o["last_status"] is not None and o["last_status"] >= t0:
                old_polls_after[key] = max(old_polls_after.get(key, 0.0), o["last_status"])

    def _sample_until(self, until: float, moved_keys: dict[str, tuple[str, str]], t0: float,
                      first_poll: dict[str, float], old_polls_after: dict[str, float]) -> None:
        while time.monotonic() < until:
            self._note_polls(self._sample(list(moved_keys)), moved_keys, t0, first_poll, old_polls_after)
            time.sleep(self.opts.sample_interval)

    def _old_held(self, s: dict[str, Any], moved_keys: dict[str, tuple[str, str]]) -> list[str]:
        return [k for k, (old, _new) in moved_keys.items() if s["bmcs"].get(k, {}).get("held", {}).get(old)]

    def _wait_released(self, moved_keys: dict[str, tuple[str, str]], deadline: float, t0: float,
                       first_poll: dict[str, float], old_polls_after: dict[str, float]) -> float | None:
        while True:
            s = self._sample(list(moved_keys))
            self._note_polls(s, moved_keys, t0, first_poll, old_polls_after)
            if not self._old_held(s, moved_keys):
                return s["t"]
            if s["t"] > deadline:
                return None
            time.sleep(self.opts.sample_interval)

    def _sessions(self, moved_keys: dict[str, tuple[str, str]], t0: float, settled_at: float,
                  released_at: float | None, steady_from: float, event_result: dict[str, Any],
                  final: dict[str, Any], after_src: dict[str, str]) -> dict[str, Any]:
        """When the old owners let go of each moved BMC, how, and the slots per BMC over time."""
        opts = self.opts
        last_held: dict[str, dict[str, Any]] = {}  # BMC -> the last sample where the old owner held it
        released: dict[str, float] = {}
        for s in self.samples:
            if s["t"] < t0:
                continue
            for key, (old, _new) in moved_keys.items():
                entry = s["bmcs"].get(key, {})
                if entry.get("held", {}).get(old):
                    last_held[key] = {"t": s["t"], "last_seen": max(
                        x["last_seen"] for x in entry["sessions"] if x["source"] == old)}
                    released.pop(key, None)
                elif key in last_held and key not in released:
                    released[key] = s["t"]
        never_held = [k for k in moved_keys if k not in last_held]
        # Released by expiry when the BMC's timeout ran out since the old owner's last packet;
        # earlier means the client closed the session (logout).
        expired = logged_out = 0
        for key, t in released.items():
            if t + opts.sample_interval + 0.1 >= last_held[key]["last_seen"] + opts.session_timeout:
                expired += 1
            else:
                logged_out += 1
        release_after = [t - t0 for t in released.values()]
        over = [s for s in self.samples if s["t"] >= t0 and s["held_max"] > 1]
        after_settle = [s for s in self.samples if s["t"] >= settled_at]
        steady = [s for s in self.samples if s["t"] >= steady_from]
        held_now = {k: e["held"] for k, e in final["requesters"].items() if e["held"]}
        two = {k: h for k, h in held_now.items() if sum(h.values()) > 1}
        foreign = {k: h for k, h in held_now.items() if set(h) - {after_src.get(k)}}
        return {
            "idle_timeout": opts.idle_timeout, "bmc_session_timeout": opts.session_timeout,
            "old_owner_held_at_t0": len(last_held), "never_held_after_t0": len(never_held),
            # Sampling never stops, so the last BMC's release time is when all were free.
            "old_owner_released_all_after_t0": None if released_at is None or len(released) < len(last_held)
            else round(max(release_after, default=0.0), 2),
            "released_by_expiry": expired, "released_by_logout": logged_out,
            "release_seconds_after_t0": _spread(release_after),
            "crash_bound_seconds": opts.session_timeout + opts.sample_interval
            if opts.event == "kill" else None,
            "event_seconds": event_result.get("seconds"),
            "held_max_after_t0": max((s["held_max"] for s in self.samples if s["t"] >= t0), default=None),
            "held_max_after_settle": max((s["held_max"] for s in after_settle), default=None),
            "held_max_steady": max((s["held_max"] for s in steady), default=None),
            "more_than_one_slot": None if not over else {
                "first_after_t0": round(over[0]["t"] - t0, 2), "last_after_t0": round(over[-1]["t"] - t0, 2),
                "samples": len(over), "max": max(s["held_max"] for s in over)},
            "final": {"bmcs_holding": len(held_now), "bmcs_with_two_or_more": len(two),
                      "bmcs_held_by_other_than_owner": len(foreign),
                      "examples": dict(list({**two, **foreign}.items())[:5])},
        }


def _count_pairs(pairs: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for old, new in pairs:
        key = f"{old} -> {new}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


# -- verdicts and the text report --------------------------------------------------------

def verdicts(r: dict[str, Any]) -> dict[str, bool | None]:
    """What issue 11 asks, one boolean each (None: not decidable from this run)."""
    s = r["sessions"]
    return {
        "moved_equals_prediction": r["moved"]["equals_prediction"],
        "every_moved_node_polled_by_new_owner_within_bound": r["first_poll_by_new_owner"]["within_bound"],
        "no_double_polling_after_settle": r["after_settle"]["double_polled"] == 0,
        "only_predicted_sources_after_settle": r["after_settle"]["not_predicted_source"] == 0,
        "old_owner_released_every_slot": s["old_owner_released_all_after_t0"] is not None,
        "crash_sessions_expired_within_bmc_timeout": (
            s["release_seconds_after_t0"] is None or s["release_seconds_after_t0"]["max"]
            <= s["crash_bound_seconds"]) if r["event"] == "kill" else None,
        "at_most_one_slot_per_bmc_steady": s["held_max_steady"] is not None and s["held_max_steady"] <= 1,
        "at_most_one_slot_per_bmc_once_settled": s["held_max_after_settle"] is not None
        and s["held_max_after_settle"] <= 1,
    }


def render(doc: dict[str, Any]) -> str:
    r = doc["result"]
    fp, st, se = r["first_poll_by_new_owner"], r["after_settle"], r["sessions"]
    who = r["victim"] or r["joiner"]
    spread = fp["seconds_after_t0"] or {}
    lines = [
        f"rebalance: {r['event']} {who['name']} ({who['registered_name']}, "
        f"IPMI from {who['source_address']}); "
        f"{r['nodes']} nodes; conductors {len(r['conductors_before'])} -> {len(r['conductors_after'])}",
        f"  settings: db {doc['settings']['db']}, rpc {doc['settings']['rpc']}, sync interval "
        f"{doc['settings']['sync_interval']} s, ring reset {r['timing']['hash_ring_reset_interval']} s, "
        f"heartbeat {r['timing']['heartbeat_interval']}/{r['timing']['heartbeat_timeout']} s, BMC session "
        f"timeout {se['bmc_session_timeout']} s, idle_timeout {se['idle_timeout']} s",
        f"  event took {r['event_seconds']} s (stop: until the process exited; add: until alive in the API)",
        f"  moved nodes: {r['moved']['count']} (equal to the prediction: {r['moved']['equals_prediction']}); "
        f"{r['moved']['by_owner']}",
        f"  first poll by the new owner: {fp['polled']}/{fp['of']}, after t0 max {spread.get('max')} s, "
        f"median {spread.get('median')} s; bound {fp['bound_seconds']} s ({fp['bound']}) "
        f"+ {fp['cycle_allowance_seconds']} s for the cycle: within {fp['within_bound']}",
        f"  old owner polled moved nodes after t0: {fp['old_owner_polls_after_t0']} BMCs, the last at "
        f"t0+{fp['old_owner_last_poll_after_t0']} s",
        f"  settled at t0+{st['settled_after_t0']} s; one {st['window_seconds']} s window after: "
        f"double-polled "
        f"{st['double_polled']}, not the predicted source {st['not_predicted_source']}, not polled "
        f"{st['not_polled']}; API conductor field vs prediction: "
        f"{st['api_disagrees_with_prediction']} differ",
        f"  sessions: old owner held {se['old_owner_held_at_t0']} moved BMCs after t0; all released at "
        f"t0+{se['old_owner_released_all_after_t0']} s (by expiry {se['released_by_expiry']}, by logout "
        f"{se['released_by_logout']}; per BMC {se['release_seconds_after_t0']})",
        f"  slots per BMC: max after t0 {se['held_max_after_t0']}, "
        f"after settle {se['held_max_after_settle']}, "
        f"steady (old owner gone) {se['held_max_steady']}; more than one: {se['more_than_one_slot']}",
        "  verdicts: " + ", ".join(f"{k} {v}" for k, v in doc["verdicts"].items()),
    ]
    return "\n".join(lines)


@dataclass
class Plan:
    """A whole run: fleet, stack, enrollment, then one event."""

    event: str
    work: Path
    conductors: int = 3
    per_host: int = 1
    nodes: int = 30
    db: str = "postgresql"
    rpc: str = "json-rpc"
    sync_interval: int = 60
    session_timeout: float = 20.0
    idle_timeout: float = 0.0  # 0: the driver's own default for this sync interval
    address: str = "127.128.0.1"
    conductor_base: str = "127.129.0.1"
    victim: str | None = None
    options: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.idle_timeout:  # what the driver derives when the option is unset
            from ironic_scale.conf import derived_idle_timeout

            self.idle_timeout = derived_idle_timeout(self.sync_interval)

    def ironic_options(self) -> dict[str, dict[str, str]]:
        """``options`` plus our driver's session settings (idle logout, keepalive under the BMC timeout)."""
        out = {s: dict(v) for s, v in self.options.items()}
        native = out.setdefault("native_ipmi", {})
        native.setdefault("idle_timeout", str(self.idle_timeout))
        # Keepalives must come more often than the BMC times a session out, or every
        # poll after a long sync interval logs in again.
        native.setdefault("keepalive_interval", str(min(25.0, self.session_timeout / 2)))
        return out


def run(plan: Plan, progress: Progress,
        on_ready: Callable[[Stack, RunningFleet], None] | None = None) -> dict[str, Any]:
    """Start the fleet and the stack, enroll, measure one event, stop everything."""
    from ironic_scale.sim.launcher import start_fleet
    from ironic_scale.stack import enroll
    from ironic_scale.stack.processes import StackSpec

    options = plan.ironic_options()
    progress.begin(f"simulator: {plan.nodes} BMCs from {plan.address}, "
                   f"session timeout {plan.session_timeout} s")
    with start_fleet(plan.nodes, ("--address", plan.address, "--session-timeout", str(plan.session_timeout)),
                     run_dir=str(_mkdir(plan.work / "sim"))) as fleet:
        spec = StackSpec(work=plan.work / "stack", db=plan.db, rpc=plan.rpc, conductors=plan.conductors,
                         per_host=plan.per_host, sync_interval=plan.sync_interval,
                         conductor_base=plan.conductor_base, options=options)
        progress.begin(f"stack: {plan.db}, {plan.rpc}, {spec.hosts} hosts x {spec.per_host} conductors")
        with Stack(spec) as stack:
            state = stack.start()
            progress.begin(f"enroll {plan.nodes} native-ipmi nodes")
            enroll.run_enroll(stack.config_files(), Path(fleet.inventory_path), "native-ipmi")
            if on_ready:
                on_ready(stack, fleet)
            opts = Options(event=plan.event, sync_interval=plan.sync_interval,
                           session_timeout=plan.session_timeout, idle_timeout=plan.idle_timeout,
                           options=options, victim=plan.victim)
            result = Rebalance(stack, fleet, opts, progress).run()
            result["stack_seconds"] = state.seconds
            result["stack_json"] = [asdict(p) for p in stack.state.processes]
        stack.drop_database()
    return result


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
