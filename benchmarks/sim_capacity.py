"""How much can the BMC fleet simulator carry on this machine?

Measures, with the simulator in its own processes (``start_fleet``):

1. start-up: wall time from launch to the ``ready:`` line, the simulator's own
   ``startup_seconds``, processes and memory right after start, for several
   fleet sizes, plus the largest fleet one process can hold (fd limit);
2. simulator CPU per answered Get Chassis Status on warm sessions (a pyghmi
   client in a separate process keeps one session per BMC), and per full
   login + status + logout cycle (one ``ipmipower --stat`` over K hosts);
   each the median of several repeats, with min and max;
3. a sweep of the whole load fleet, one ``ipmipower --stat`` per host,
   in batches of 1,000 hosts: wall time, failures, simulator CPU.

CPU figures are deltas of the simulator's ``cpu_seconds`` counter (sum of
RUSAGE_SELF over worker processes) divided by deltas of its request/login
counters, so client CPU is never counted.

    python benchmarks/sim_capacity.py            # full measurement, minutes
    python benchmarks/sim_capacity.py --quick    # small sizes, seconds (CI)

Prints a table and writes results/sim_capacity.json. Only loopback addresses
in 127.100.0.0 - 127.180.255.255, port 623, are used.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from ironic_scale.sim import inventory  # noqa: E402
from ironic_scale.sim.launcher import FleetFailed, RunningFleet, start_fleet  # noqa: E402

ALLOWED = (ipaddress.ip_address("127.100.0.0"), ipaddress.ip_address("127.180.255.255"))
BATCH = 1000  # hosts per ipmipower process in the sweep (argv stays ~14 KB)
MiB = 2**20


# -- helpers -------------------------------------------------------------------


def check_range(base: str, count: int) -> None:
    """Refuse to bind anything outside the address block we may use."""
    last = inventory.loopback_addresses(base, count)[-1]
    for a in (base, last):
        if not ALLOWED[0] <= ipaddress.ip_address(a) <= ALLOWED[1]:
            raise SystemExit(f"{count} BMCs from {base} reach {last}, outside "
                             f"{ALLOWED[0]} - {ALLOWED[1]}")


def proc_kib(pid: int, path: str, field: str) -> int:
    """A 'Field: N kB' value from /proc/PID/status or smaps_rollup (0 if gone)."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(fleet: RunningFleet, counters: dict[str, Any]) -> dict[str, float]:
    """Worker RSS as the counters report it, plus the supervisor and the PSS of all."""
    pids = fleet.pids
    return {
        "rss_workers_mib": counters["rss_bytes"] / MiB,
        "rss_supervisor_mib": proc_kib(pids[0], "status", "VmRSS") / 1024,
        "pss_all_mib": sum(proc_kib(p, "smaps_rollup", "Pss") for p in pids) / 1024,
    }


def launch(count: int, base: str, processes: int | None) -> tuple[RunningFleet, float]:
    check_range(base, count)
    args = ["--address", base, "--port", "623"]
    if processes is not None:
        args += ["--processes", str(processes)]
    t0 = time.monotonic()
    fleet = start_fleet(count, args=args, timeout=300.0)
    return fleet, time.monotonic() - t0


def spread(endpoints: list[inventory.Endpoint], k: int) -> list[inventory.Endpoint]:
    """k endpoints evenly spaced over the fleet, so every worker gets some."""
    k = min(k, len(endpoints))
    step = len(endpoints) / k
    return [endpoints[int(i * step)] for i in range(k)]


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def delta(after: dict[str, Any], before: dict[str, Any], key: str) -> float:
    return after.get(key, 0) - before.get(key, 0)


def counter_deltas(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float]:
    """Every counter that moved, except the gauges."""
    skip = {"rss_bytes", "live_sessions", "endpoints", "processes", "startup_seconds"}
    return {k: round(delta(after, before, k), 6) for k in sorted(after)
            if k not in skip and delta(after, before, k)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_nofile() -> None:
    """ipmipower keeps a socket per host; let it (and us) use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- 1. start-up ---------------------------------------------------------------


def measure_startup(count: int, base: str, processes: int | None, label: str) -> dict[str, Any]:
    row: dict[str, Any] = {"label": label, "count": count,
                           "processes_requested": processes or "auto"}
    log(f"start-up: {label}")
    try:
        fleet, wall = launch(count, base, processes)
    except FleetFailed as e:
        row.update(ok=False, error=str(e))
        log(f"  failed: {e}")
        return row
    try:
        c = fleet.control.counters()
        row.update(ok=True, wall_to_ready_s=wall, startup_seconds=c["startup_seconds"],
                   processes=c["processes"], endpoints=c["endpoints"],
                   cpu_seconds=c["cpu_seconds"], ready_line=fleet.ready_line,
                   **memory(fleet, c))
        row["rss_per_bmc_kib"] = c["rss_bytes"] / 1024 / count
    finally:
        fleet.stop()
    return row


# -- 2a. warm sessions: pyghmi clients in their own processes ----------------------


def pyghmi_client(inventory_path: str, k: int, index: int, clients: int) -> int:
    """Hidden mode: log in to this client's share of k BMCs, then on each stdin
    line {"requests": N} send N Get Chassis Status round-robin, answer one JSON line."""
    from pyghmi.exceptions import IpmiException
    from pyghmi.ipmi import command

    eps = spread(inventory.read(inventory_path), k)[index::clients]
    t0, cpu0 = time.monotonic(), time.process_time()
    cmds, login_failed = [], []
    for ep in eps:
        try:
            cmds.append(command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                                        password=ep.password.encode()))
        except (IpmiException, OSError) as e:
            login_failed.append(f"{ep.address}: {e}")
    print(json.dumps({"ready": bool(cmds), "sessions": len(cmds), "login_failed": login_failed[:10],
                      "login_failures": len(login_failed), "login_wall_s": time.monotonic() - t0,
                      "login_client_cpu_s": time.process_time() - cpu0}), flush=True)
    for line in sys.stdin:
        n = int(json.loads(line)["requests"])
        ok, errors, samples, slow = 0, 0, [], 0
        t0, cpu0 = time.monotonic(), time.process_time()
        for i in range(n):
            c = cmds[i % len(cmds)]
            t1 = time.monotonic()
            try:
                r = c.raw_command(0x00, 0x01)
            except (IpmiException, OSError) as e:
                errors += 1
                if len(samples) < 5:
                    samples.append(str(e))
                continue
            slow += time.monotonic() - t1 > 0.1
            if r.get("code") == 0 and len(r.get("data", b"")) >= 3:
                ok += 1
            else:
                errors += 1
                if len(samples) < 5:
                    samples.append(repr(r))
        print(json.dumps({"ok": ok, "errors": errors, "error_samples": samples, "over_100ms": slow,
                          "wall_s": time.monotonic() - t0,
                          "client_cpu_s": time.process_time() - cpu0}), flush=True)
    for c in cmds:
        try:
            c.ipmi_session.logout()
        except Exception:  # noqa: BLE001 - best effort; the simulator expires sessions anyway
            pass
    return 0


def measure_warm(fleet: RunningFleet, k: int, requests: int, repeats: int,
                 clients: int = 1) -> dict[str, Any]:
    """Sim CPU per Get Chassis Status on open sessions, client(s) in other processes."""
    log(f"warm: {clients} pyghmi client process(es), {k} sessions, {repeats} x {requests} "
        "Get Chassis Status")
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--pyghmi-client",
                               fleet.inventory_path, "--warm-bmcs", str(k),
                               "--client-slice", f"{i}/{clients}"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(clients)]
    out: dict[str, Any] = {"bmcs": k, "clients": clients, "requests_per_run": requests,
                           "client": f"pyghmi, {clients} process(es) x 1 thread"}
    share = [requests // clients + (i < requests % clients) for i in range(clients)]
    try:
        hellos = [json.loads(p.stdout.readline() or "{}") for p in procs]
        if not all(h.get("ready") for h in hellos):
            raise RuntimeError(f"a pyghmi client did not start: {hellos}")
        out["login"] = {"sessions": sum(h["sessions"] for h in hellos),
                        "failures": sum(h["login_failures"] for h in hellos),
                        "failed": [f for h in hellos for f in h["login_failed"]][:10],
                        "wall_s": max(h["login_wall_s"] for h in hellos)}
        log(f"  {out['login']['sessions']} sessions up in {out['login']['wall_s']:.1f} s "
            f"({out['login']['failures']} failed)")
        # Idle cost with the sessions open: the 1 s session sweep and the control reads.
        c0 = fleet.control.counters()
        time.sleep(2.0)
        c1 = fleet.control.counters()
        idle = out["idle_cpu_per_s"] = delta(c1, c0, "cpu_seconds") / 2.0
        runs = []
        for r in range(repeats):
            before = fleet.control.counters()
            t0 = time.monotonic()
            for p, n in zip(procs, share, strict=True):
                p.stdin.write(json.dumps({"requests": n}) + "\n")
                p.stdin.flush()
            res = [json.loads(p.stdout.readline()) for p in procs]
            wall = time.monotonic() - t0
            after = fleet.control.counters()
            n = delta(after, before, "req.get_chassis_status")
            cpu = delta(after, before, "cpu_seconds")
            ok = sum(x["ok"] for x in res)
            run = {"sim_cpu_s": cpu, "answered": n, "client_ok": ok,
                   "client_errors": sum(x["errors"] for x in res),
                   "error_samples": [e for x in res for e in x["error_samples"]][:5],
                   "over_100ms": sum(x["over_100ms"] for x in res), "wall_s": wall,
                   "client_cpu_s": sum(x["client_cpu_s"] for x in res),
                   "us_per_request": cpu / n * 1e6 if n else None,
                   "us_per_request_idle_corrected": (cpu - idle * wall) / n * 1e6 if n else None,
                   "client_us_per_request": sum(x["client_cpu_s"] for x in res) / max(ok, 1) * 1e6,
                   "requests_per_s": ok / wall if wall else None,
                   "counters": counter_deltas(after, before)}
            runs.append(run)
            log(f"  run {r + 1}: {fmt(run['us_per_request'])} us sim CPU/request, "
                f"{run['requests_per_s']:.0f} req/s, {run['client_errors']} errors, "
                f"{run['over_100ms']} replies slower than 100 ms")
        out["runs"] = runs
        good = [r for r in runs if r["us_per_request"] is not None]
        for key in ("us_per_request", "us_per_request_idle_corrected", "client_us_per_request",
                    "requests_per_s"):
            out[key] = summary([r[key] for r in good]) if good else None
        out["errors"] = sum(r["client_errors"] for r in runs)
        out["over_100ms"] = sum(r["over_100ms"] for r in runs)
    finally:
        for p in procs:
            try:
                p.stdin.close()
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return out


# -- 2b / 3. ipmipower ------------------------------------------------------------


def ipmipower(hosts: list[str], username: str, password: str) -> dict[str, Any]:
    """One ``ipmipower --stat`` over hosts; count lines that are not ': on'/': off'."""
    t0 = time.monotonic()
    p = subprocess.run(["ipmipower", "-D", "LAN_2_0", "-h", ",".join(hosts), "-u", username,
                        "-p", password, "--stat"], capture_output=True, text=True,
                       preexec_fn=raise_nofile)
    wall = time.monotonic() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    answered = {ln.rsplit(":", 1)[0] for ln in lines if ln.endswith((": on", ": off"))}
    bad = [ln for ln in lines if not ln.endswith((": on", ": off"))]
    missing = len(set(hosts) - answered - {ln.rsplit(":", 1)[0] for ln in bad})
    return {"hosts": len(hosts), "ok": len(answered), "failed_lines": len(bad),
            "missing": missing, "failures": len(bad) + missing, "samples": bad[:5],
            "stderr": p.stderr.strip()[:500], "rc": p.returncode, "wall_s": wall}


def measure_login_cycles(fleet: RunningFleet, k: int, repeats: int) -> dict[str, Any]:
    log(f"login cycles: one ipmipower --stat over {k} hosts, {repeats} runs")
    eps = spread(fleet.endpoints, k)
    hosts = [ep.address for ep in eps]
    runs = []
    for r in range(repeats):
        before = fleet.control.counters()
        res = ipmipower(hosts, eps[0].username, eps[0].password)
        time.sleep(0.2)  # let the last close-session replies land in the counters
        after = fleet.control.counters()
        logins = delta(after, before, "login.ok")
        cpu = delta(after, before, "cpu_seconds")
        run = {"sim_cpu_s": cpu, "logins": logins, "ipmipower": res,
               "us_per_cycle": cpu / logins * 1e6 if logins else None,
               "counters": counter_deltas(after, before)}
        runs.append(run)
        us = f"{run['us_per_cycle']:.0f}" if logins else "n/a"
        log(f"  run {r + 1}: {us} us sim CPU/cycle, {res['wall_s']:.2f} s, "
            f"{res['failures']} failures")
    good = [r["us_per_cycle"] for r in runs if r["us_per_cycle"] is not None]
    return {"bmcs": k, "client": "ipmipower -D LAN_2_0 --stat, 1 process", "runs": runs,
            "us_per_cycle": summary(good) if good else None,
            "failures": sum(r["ipmipower"]["failures"] for r in runs)}


def measure_sweep(fleet: RunningFleet, parallel: int) -> dict[str, Any]:
    eps = fleet.endpoints
    # Strided, not contiguous: workers own contiguous slices of the inventory, so
    # contiguous batches would load one worker at a time and leave the other idle.
    n = -(-len(eps) // BATCH)
    batches = [eps[i::n] for i in range(n)]
    log(f"sweep: {len(eps)} BMCs, {len(batches)} ipmipower batches of <= {BATCH} "
        f"(strided over the workers), {parallel} at a time")
    before = fleet.control.counters()
    t0 = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(
            lambda b: ipmipower([ep.address for ep in b], b[0].username, b[0].password), batches))
    wall = time.monotonic() - t0
    time.sleep(0.2)
    after = fleet.control.counters()
    cpu = delta(after, before, "cpu_seconds")
    logins = delta(after, before, "login.ok")
    failures = sum(r["failures"] for r in results)
    out = {"bmcs": len(eps), "batches": len(batches), "batching": "strided (eps[i::batches])",
           "parallel": parallel, "wall_s": wall,
           "bmcs_per_s": len(eps) / wall, "failures": failures,
           "failure_samples": [s for r in results for s in r["samples"]][:10],
           "ipmipower_nonzero_rc": sum(1 for r in results if r["rc"]),
           "stderr_samples": [r["stderr"] for r in results if r["stderr"]][:3],
           "batch_wall_s": summary([r["wall_s"] for r in results]),
           "sim_cpu_s": cpu, "logins": logins,
           "us_per_bmc": cpu / len(eps) * 1e6, "counters": counter_deltas(after, before),
           "rss_workers_mib_after": after["rss_bytes"] / MiB}
    log(f"  {wall:.1f} s, {failures} failures, sim CPU {cpu:.2f} s")
    return out


# -- the table -------------------------------------------------------------------


def fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def spread_text(s: dict[str, Any] | None, spec: str = ".1f") -> str:
    if not s:
        return "-"
    return f"{fmt(s['median'], spec)} (min {fmt(s['min'], spec)}, max {fmt(s['max'], spec)})"


def table(res: dict[str, Any]) -> str:
    out = [f"Simulator capacity ({res['mode']} mode), {res['machine']['cpus']} CPUs, "
           f"open-files hard limit {res['machine']['nofile_hard']}, {res['started']}", ""]
    out.append("1. Start-up (memory right after ready)")
    out.append(f"  {'fleet':<31} {'procs':>5} {'wall to ready':>13} {'startup_s':>9} "
               f"{'RSS workers':>11} {'KiB/BMC':>7} {'+superv.':>8} {'PSS all':>8}")
    for r in res["startup"]:
        if not r["ok"]:
            out.append(f"  {r['label']:<31} FAILED: {r['error']}")
            continue
        out.append(f"  {r['label']:<31} {r['processes']:>5} {r['wall_to_ready_s']:>11.2f} s "
                   f"{r['startup_seconds']:>9.3f} {r['rss_workers_mib']:>7.0f} MiB "
                   f"{r['rss_per_bmc_kib']:>7.2f} {r['rss_supervisor_mib']:>4.0f} MiB "
                   f"{r['pss_all_mib']:>4.0f} MiB")
    load = res["load_fleet"]
    out += ["", f"2. Simulator CPU per request (load fleet: {load['count']} BMCs on "
            f"{load['processes']} process(es); median of {res['repeats']} runs)"]
    for w in res["warm"]:
        tag = "1 client" if w["clients"] == 1 else f"{w['clients']} clients"
        out.append(f"  Get Chassis Status, warm, {tag:<9} {spread_text(w['us_per_request'])} us"
                   f"   [{w['bmcs']} pyghmi sessions, {w['requests_per_run']} requests/run, "
                   f"{w['errors']} errors]")
        out.append(f"    minus idle CPU ({w['idle_cpu_per_s'] * 1e3:.2f} ms/s)        "
                   f"{spread_text(w['us_per_request_idle_corrected'])} us")
        out.append(f"    client (pyghmi) CPU per request   {spread_text(w['client_us_per_request'])} us;"
                   f" {spread_text(w['requests_per_s'], '.0f')} req/s; "
                   f"{w['over_100ms']} replies took > 100 ms")
    lc = res["login_cycle"]
    if lc:
        out.append(f"  login + status + logout cycle       {spread_text(lc['us_per_cycle'], '.0f')} us"
                   f"   [ipmipower over {lc['bmcs']} hosts, {lc['failures']} failures]")
    out += ["", "3. Sweep: one ipmipower Get Chassis Status per BMC (batches of "
            f"{BATCH} hosts, strided)"]
    for s in res["sweeps"]:
        out.append(f"  {s['bmcs']} BMCs, {s['parallel']} batch(es) at a time: {s['wall_s']:.1f} s wall "
                   f"({s['bmcs_per_s']:.0f} BMC/s), {s['failures']} failures, sim CPU "
                   f"{s['sim_cpu_s']:.2f} s ({s['us_per_bmc']:.0f} us/BMC), logins {s['logins']:.0f}")
        if s["failure_samples"]:
            out.append(f"    e.g. {'; '.join(s['failure_samples'][:3])}")
    if res["errors"]:
        out += ["", "Errors:"] + [f"  {e}" for e in res["errors"]]
    return "\n".join(out)


# -- main --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes (200 and 1,000 BMCs, 1,000-BMC sweep) for CI")
    p.add_argument("--address", default="127.120.0.1",
                   help="first BMC address (default 127.120.0.1; must stay in 127.100-127.180)")
    p.add_argument("--repeats", type=int, default=3, help="runs per CPU figure (default 3)")
    p.add_argument("--warm-bmcs", type=int, default=None, help="K sessions (default 500; quick 100)")
    p.add_argument("--warm-requests", type=int, default=None,
                   help="Get Chassis Status per run (default 10000; quick 500)")
    p.add_argument("--output", default=str(REPO / "results" / "sim_capacity.json"))
    p.add_argument("--warm-clients", default=None,
                   help="comma-separated client process counts for the warm test "
                        "(default 1,4; quick 1); the brief's figure is 1")
    p.add_argument("--pyghmi-client", metavar="INVENTORY", help=argparse.SUPPRESS)
    p.add_argument("--client-slice", default="0/1", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.pyghmi_client:
        index, clients = map(int, args.client_slice.split("/"))
        return pyghmi_client(args.pyghmi_client, args.warm_bmcs or 500, index, clients)
    if not shutil.which("ipmipower"):
        raise SystemExit("ipmipower (FreeIPMI) is needed: apt-get install freeipmi-tools")
    raise_nofile()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    one_proc_max = hard - 64  # supervisor.FDS_RESERVED

    if args.quick:
        startup = [(200, None, "200"), (1000, None, "1,000")]
        load_count, k, requests, sweeps = 1000, args.warm_bmcs or 100, args.warm_requests or 500, [2]
        warm_clients = [1]
    else:
        startup = [(1000, 1, "1,000 (1 proc)"), (5000, 1, "5,000 (1 proc)"),
                   (19000, 1, "19,000 (1 proc)"), (25000, None, "25,000 (auto procs)"),
                   (19900, 1, "19,900 (1 proc)"),
                   (one_proc_max, 1, f"{one_proc_max:,} (1 proc, planner max)"),
                   (one_proc_max + 1, 1, f"{one_proc_max + 1:,} (1 proc, over max)")]
        load_count, k, requests, sweeps = 25000, args.warm_bmcs or 500, args.warm_requests or 10000, [1, 2]
        warm_clients = [1, 4]
    if args.warm_clients:
        warm_clients = [int(x) for x in args.warm_clients.split(",")]
    check_range(args.address, max(c for c, _, _ in startup) if startup else load_count)
    check_range(args.address, load_count)

    res: dict[str, Any] = {
        "mode": "quick" if args.quick else "full", "repeats": args.repeats,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "address": args.address,
        "machine": {"cpus": os.cpu_count(), "nofile_hard": hard, "python": platform.python_version(),
                    "kernel": platform.release(), "loadavg_start": os.getloadavg()},
        "startup": [], "warm": [], "login_cycle": None, "sweeps": [], "errors": [],
    }
    for count, procs, label in startup:
        res["startup"].append(measure_startup(count, args.address, procs, label))

    log(f"load fleet: {load_count} BMCs")
    fleet = None
    try:
        fleet, wall = launch(load_count, args.address, None)
        c = fleet.control.counters()
        res["load_fleet"] = {"count": load_count, "processes": c["processes"],
                             "wall_to_ready_s": wall, "ready_line": fleet.ready_line}
        for nc in warm_clients:
            try:
                res["warm"].append(measure_warm(fleet, k, requests, args.repeats, nc))
            except Exception as e:  # noqa: BLE001 - keep measuring the rest, report it
                res["errors"].append(f"warm x{nc}: {e!r}")
        try:
            res["login_cycle"] = measure_login_cycles(fleet, k, args.repeats)
        except Exception as e:  # noqa: BLE001
            res["errors"].append(f"login cycle: {e!r}")
        for par in sweeps:
            try:
                res["sweeps"].append(measure_sweep(fleet, par))
            except Exception as e:  # noqa: BLE001
                res["errors"].append(f"sweep x{par}: {e!r}")
    except FleetFailed as e:
        res["errors"].append(f"load fleet: {e}")
        res["load_fleet"] = {"count": load_count, "processes": None}
    finally:
        if fleet is not None:
            res["load_fleet"]["final_counters"] = fleet.stop()
    res["machine"]["loadavg_end"] = os.getloadavg()

    text = table(res)
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"\nJSON: {out}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
