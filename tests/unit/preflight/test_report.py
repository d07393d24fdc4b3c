"""The report's three renderings, from one document: verdict, regressions with their %, skips with
reasons, environments side by side."""

from __future__ import annotations

import copy
import json

from ironic_scale.preflight import baseline, compare, report
from ironic_scale.preflight.model import NOT_AVAILABLE, OK, SKIPPED, Check
from ironic_scale.preflight.run import render
from tests.unit.preflight.conftest import FIXTURE, scaled


def _doc(bench_doc, density_doc, saved=None):
    base = baseline.load(str(FIXTURE))
    candidate_env = dict(base.environment, ironic="39.1.0")
    checks = [
        Check("patches", OK, "applied: the series (4 patches) is applied", seconds=0.02),
        Check("config", NOT_AVAILABLE, "the config checker needs oslo_upgradecheck, which this Python lacks"),
        compare.bench_check(scaled(bench_doc, "cpu_ms_per_node", 1.25, method="native-interface"),
                            bench_doc, 0.10),
        Check("density", SKIPPED, "--skip-density"),
    ]
    return report.document(checks, started="2026-12-02T10:00:00+00:00", finished="2026-12-02T10:03:00+00:00",
                           baseline=base, thresholds={"bench": 0.10, "density": 0.2}, candidate=candidate_env,
                           work="/tmp/w", saved=saved)


def test_json_says_what_regressed_by_how_much_and_what_did_not_run(bench_doc, density_doc):
    doc = json.loads(render(_doc(bench_doc, density_doc), "json"))
    assert (doc["result"], doc["exit_code"]) == ("regressed", 1)
    assert doc["regressions"] == ["bench: 50 BMCs native-interface CPU ms/node +25.0%"]
    assert doc["not_run"] == [
        {"check": "config", "status": "not available",
         "reason": "the config checker needs oslo_upgradecheck, which this Python lacks"},
        {"check": "density", "status": "skipped", "reason": "--skip-density"}]
    bench = next(c for c in doc["checks"] if c["name"] == "bench")
    fig = next(f for f in bench["figures"]
               if f["row"] == "50 BMCs native-interface" and f["name"] == "CPU ms/node")
    assert fig["verdict"] == "regressed" and round(fig["change"], 3) == 0.25
    assert doc["environment"]["baseline"]["ironic"] == "39.0.0"
    assert doc["environment"]["candidate"]["ironic"] == "39.1.0"


def test_terminal_table_has_the_verdict_the_figure_and_what_changed(bench_doc, density_doc):
    text = render(_doc(bench_doc, density_doc, saved={"path": None, "error": "bench failed"}), "table")
    assert text.startswith("ironic-scale preflight, 2026-12-02T10:00:00+00:00 to 2026-12-02T10:03:00+00:00: "
                           "REGRESSED (exit 1)")
    assert "regression threshold: bench 10%, density 20%" in text
    row = next(line for line in text.splitlines()
               if "50 BMCs native-interface" in line and "CPU ms/node" in line)
    assert "+25.0%" in row and "REGRESSED" in row
    ironic = next(line for line in text.splitlines() if line.startswith("| ironic "))
    assert "39.0.0" in ironic and "39.1.0" in ironic and "*" in ironic
    python = next(line for line in text.splitlines() if line.startswith("| python "))
    assert "*" not in python
    assert "skipped: density: --skip-density" in text
    assert "baseline NOT saved: bench failed" in text


def test_markdown_tables_escape_pipes_and_keep_every_part(bench_doc, density_doc):
    doc = _doc(bench_doc, density_doc)
    doc["checks"][0]["summary"] = "a | b"
    text = render(doc, "markdown")
    assert text.startswith("# ironic-scale preflight, ")
    assert "| patches | ok | 0.0 | a \\| b |" in text
    assert "| bench | 50 BMCs native-interface | CPU ms/node |" in text and "| +25.0% | REGRESSED |" in text
    assert "| ironic | 39.0.0 | 39.1.0 | * |" in text
    assert "- regressed (1): bench: 50 BMCs native-interface CPU ms/node +25.0%" in text
    assert "- not available: config: the config checker needs oslo_upgradecheck" in text


def test_a_clean_run_is_ok_and_exits_0(bench_doc, density_doc):
    base = baseline.load(str(FIXTURE))
    checks = [compare.bench_check(bench_doc, bench_doc, 0.1),
              compare.density_check(density_doc, density_doc, 0.1),
              Check("config", SKIPPED, "no --config-file (or --api/--conductor) given: no config to check")]
    doc = report.document(checks, started="a", finished="b", baseline=base,
                          thresholds={"bench": 0.1, "density": 0.1},
                          candidate=copy.deepcopy(base.environment), work="/tmp/w")
    assert (doc["result"], doc["exit_code"], doc["regressions"], doc["failures"]) == ("ok", 0, [], [])
    assert "OK (exit 0)" in render(doc, "table")
