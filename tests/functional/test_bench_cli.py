"""``ironic-scale bench`` end to end, small: sizes x fault mixes x methods, JSON, plot, compare.

The quick run here is what CI measures; no assertion is about speed, only about
completeness and correctness (every healthy BMC answered with its true state).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import random
import signal
import socket
import subprocess
import sys

import pytest

from ironic_scale.bench import cli as bench_cli
from ironic_scale.bench import runner
from ironic_scale.bench.sweep import METHODS, Sweep
from ironic_scale.bench.verdict import Verdict
from ironic_scale.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def bench_address() -> str:
    """This suite's own range (127.100-199.x.x), so parallel fleets never collide."""
    return f"127.{random.randint(100, 199)}.{random.randint(0, 250)}.1"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run shared by the tests below: 2 sizes x 5 methods x 2 sweeps (fault mixes:
    test_bench_faults.py)."""
    out = tmp_path_factory.mktemp("bench")
    res = run_cli("bench", "--sizes", "20,50", "--repeats", "2", "--address", bench_address(),
                  "--json", str(out / "quick.json"), "--plot", str(out / "quick.png"))
    return res, out


def _table_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """{(block title, method): columns} from the printed tables."""
    rows, title = {}, None
    for line in stdout.splitlines():
        if line.endswith("faults: none"):
            title = line
        elif title and line.split() and line.split()[0] in METHODS:
            rows[(title, line.split()[0])] = line.split()
        elif not line.strip():
            title = None
    return rows


def test_quick_run_prints_every_size_fault_and_method(quick):
    res, _ = quick
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _table_rows(res.stdout)
    titles = {f"{n} BMCs, faults: none" for n in (20, 50)}
    assert {t for t, _ in rows} == titles
    for (title, method), cols in rows.items():
        assert cols[1:4] == ["0", "0", "0"], f"{title} {method}: failed, missed, wrong: {cols}"
    assert "Correctness: every healthy BMC answered with its true state" in res.stdout
    assert "sweep 2/2" in res.stderr  # progress goes to stderr


def test_quick_run_json_has_context_raw_runs_and_ratios(quick):
    res, out = quick
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "quick.json").read_text())
    assert doc["mode"] == "simulator" and doc["correctness_failures"] == []
    assert doc["write_requests_seen"] == []
    for key in ("ironic", "pyghmi", "ipmitool", "ipmipower", "python"):
        assert doc["versions"][key], key
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["kernel"]
    assert doc["settings"]["sizes"] == [20, 50] and doc["settings"]["repeats"] == 2
    assert len(doc["rows"]) == 2 * len(METHODS)
    for row in doc["rows"]:
        assert row["correct"] is True
        assert row["runs_done"] == 2 and len(row["runs"]) == 2
        for run in row["runs"]:
            assert run["on"] + run["off"] == row["size"] and run["failed"] == 0
            assert run["cpu_seconds"] > 0 and run["sim_cpu_seconds"] > 0
        cpu = row["summary"]["cpu_ms_per_node"]
        assert cpu["min"] <= cpu["median"] <= cpu["max"]
        assert row["ratios"]["cpu_ms_per_node_ipmitool_over_this"] > 0
        assert row["ratios"]["cpu_ms_per_node_ipmipower_over_this"] > 0
        if row["method"] in ("ipmitool", "ipmipower"):
            assert row["summary"]["tool_rss_mib"] is None or row["summary"]["tool_rss_mib"]["max"] > 0
    ipmitool = next(r for r in doc["rows"] if r["method"] == "ipmitool")
    assert ipmitool["ratios"]["cpu_ms_per_node_ipmitool_over_this"] == 1.0


def test_quick_run_writes_a_png(quick):
    res, out = quick
    assert res.returncode == 0, res.stderr[-3000:]
    if importlib.util.find_spec("matplotlib") is None:
        assert "plot skipped: matplotlib is not installed" in res.stdout
        return
    png = (out / "quick.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_compare_identical_results_pass(quick, tmp_path):
    _, out = quick
    res = run_cli("bench", "compare", str(out / "quick.json"), str(out / "quick.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no regression past 10%" in res.stdout


def test_compare_names_a_regression_and_lists_missing_rows(quick, tmp_path):
    _, out = quick
    old = json.loads((out / "quick.json").read_text())
    new = copy.deepcopy(old)
    row = next(r for r in new["rows"] if (r["size"], r["fault"], r["method"]) == (50, "none", "native"))
    row["summary"]["cpu_ms_per_node"]["median"] *= 1.5  # the test's change: +50% CPU per node
    new["rows"] = [r for r in new["rows"] if (r["size"], r["method"]) != (20, "ipmitool")]
    (tmp_path / "new.json").write_text(json.dumps(new))
    res = run_cli("bench", "compare", str(out / "quick.json"), str(tmp_path / "new.json"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "50 BMCs/none/native: CPU ms/node +50.0%" in res.stdout
    assert "only in OLD: 20 BMCs/none/ipmitool" in res.stdout
    # A looser threshold lets the same change through.
    res = run_cli("bench", "compare", str(out / "quick.json"), str(tmp_path / "new.json"),
                  "--threshold", "0.6")
    assert res.returncode == 0, res.stdout


def test_bare_bench_count_alias_and_default_paths(tmp_path):
    """``--count`` is one size; without --json the result lands in results/ of the cwd."""
    res = subprocess.run([sys.executable, "-m", "ironic_scale.cli", "bench", "--count", "6",
                          "--repeats", "1", "--methods", "native", "--address", bench_address()],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert any(f.startswith("bench-") and f.endswith(".json") for f in files), files
    doc = json.loads(next((tmp_path / "results").glob("bench-*.json")).read_text())
    assert doc["settings"]["sizes"] == [6] and doc["rows"][0]["method"] == "native"


def test_bench_refuses_unknown_method_and_fault():
    res = run_cli("bench", "--methods", "telnet", timeout=60)
    assert res.returncode == 2 and "unknown method 'telnet'" in res.stderr
    res = run_cli("bench", "--faults", "fire", timeout=60)
    assert res.returncode == 2 and "unknown fault mix 'fire'" in res.stderr


def test_a_wrong_answer_is_loud_and_exits_1(monkeypatch, capsys, tmp_path):
    """The exit code and the banner, given one sweep that reported a wrong state."""
    sweep = Sweep("native", 4, 0.01, 0.001, {}, True, None, 0, 0.001)
    verdict = Verdict(on=2, off=2, wrong=1, examples=["127.100.0.2:623: reported 'on', is 'off'"])
    row = runner.Row(4, "none", "native", 1, [sweep], [verdict])
    monkeypatch.setattr(bench_cli.runner, "run", lambda plan, progress: runner.Outcome([row], []))
    rc = main(["bench", "--count", "4", "--repeats", "1", "--methods", "native",
               "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "CORRECTNESS FAILURE" in out and "reported 'on', is 'off'" in out
    assert json.loads((tmp_path / "r.json").read_text())["correctness_failures"][0]["wrong"] == 1


def test_ctrl_c_keeps_the_sweeps_done_so_far(tmp_path):
    """Interrupted after its first sweep (seen on stderr), the bench still saves and prints."""
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironic_scale.cli", "bench", "--count", "10", "--repeats", "100",
         "--methods", "native", "--address", bench_address(), "--json", str(out),
         "--plot", str(tmp_path / "partial.png")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "ms CPU/node" in line:  # the first sweep is done
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "INTERRUPTED (Ctrl-C): partial results" in stdout
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    [row] = doc["rows"]
    assert 1 <= row["runs_done"] < 100 and row["correct"] is True


def test_sigterm_stops_the_simulator_it_started(tmp_path):
    """A bench killed with SIGTERM (as by a job runner) must not leave its simulator holding the
    addresses: before this was handled, the next run failed with "address in use"."""
    address = bench_address()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironic_scale.cli", "bench", "--count", "5", "--repeats", "1000",
         "--methods", "native", "--address", address, "--json", str(tmp_path / "t.json"),
         "--plot", str(tmp_path / "t.png")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "ms CPU/node" in line:  # the simulator runs and a sweep is done
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 623))  # raises "address in use" if the simulator outlived the bench


def test_plot_is_skipped_without_matplotlib(quick, monkeypatch, tmp_path):
    from ironic_scale.bench import results
    from ironic_scale.bench.plot import plot

    _, out = quick
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    note = plot(results.load(str(out / "quick.json")), str(tmp_path / "p.png"))
    assert note.startswith("plot skipped: matplotlib is not installed")
    assert not (tmp_path / "p.png").exists()


def test_profile_writes_a_flame_graph_or_says_why_not(tmp_path):
    svg = tmp_path / "native.svg"
    res = run_cli("bench", "--count", "10", "--repeats", "1", "--methods", "native",
                  "--address", bench_address(), "--json", str(tmp_path / "p.json"),
                  "--plot", str(tmp_path / "p.png"), "--profile", str(svg))
    assert res.returncode == 0, res.stderr[-3000:]
    profile = json.loads((tmp_path / "p.json").read_text())["profile"]
    if profile["path"]:  # py-spy installed and allowed to attach
        assert f"profile: {svg}" in res.stdout
        assert b"<svg" in svg.read_bytes()[:2000]
    else:
        assert f"profile skipped: {profile['error']}" in res.stdout
