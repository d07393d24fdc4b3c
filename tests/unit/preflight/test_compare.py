"""The candidate against the baseline, on real result shapes: what regresses, what fails, what passes."""

from __future__ import annotations

import copy

import pytest

from ironic_scale.preflight import compare
from ironic_scale.preflight.model import EXIT_OK, EXIT_PROBLEM, FAILED, OK, REGRESSED, outcome
from tests.unit.preflight.conftest import scaled


def _figure(check, row, name):
    return next(f for f in check.figures if f.row == row and f.name == name)


def test_identical_results_pass_with_every_figure_compared(bench_doc, density_doc):
    bench = compare.bench_check(bench_doc, bench_doc, 0.10)
    density = compare.density_check(density_doc, density_doc, 0.10)
    assert (bench.status, density.status) == (OK, OK)
    assert bench.summary == "4 figures within 10% of the baseline"
    assert density.summary == "2 figures within 10% of the baseline"
    assert outcome([bench, density]) == (OK, EXIT_OK)


def test_bench_regression_past_the_threshold_is_named_with_its_percentage(bench_doc):
    candidate = scaled(bench_doc, "cpu_ms_per_node", 1.5, method="native")
    check = compare.bench_check(candidate, bench_doc, 0.10)
    assert check.status == REGRESSED
    assert "50 BMCs native CPU ms/node +50.0%" in check.summary
    fig = _figure(check, "50 BMCs native", "CPU ms/node")
    assert fig.verdict == REGRESSED and fig.change == pytest.approx(0.5)
    assert _figure(check, "50 BMCs native-interface", "CPU ms/node").verdict == ""
    assert outcome([check]) == (REGRESSED, EXIT_PROBLEM)


def test_within_the_threshold_passes_and_faster_is_marked(bench_doc):
    slower = compare.bench_check(scaled(bench_doc, "wall_seconds", 1.09), bench_doc, 0.10)
    assert slower.status == OK
    faster = compare.bench_check(scaled(bench_doc, "cpu_ms_per_node", 0.5), bench_doc, 0.10)
    assert faster.status == OK and "(2 faster by more than that)" in faster.summary
    assert _figure(faster, "50 BMCs native", "CPU ms/node").verdict == "faster"
    # The threshold is the operator's: the same +9% fails a 5% gate.
    assert compare.bench_check(scaled(bench_doc, "wall_seconds", 1.09), bench_doc, 0.05).status == REGRESSED


def test_density_regression_when_the_baseline_was_five_times_cheaper(density_doc):
    baseline = scaled(density_doc, "conductor_cpu_ms_per_node", 1 / 5)
    check = compare.density_check(density_doc, baseline, 0.10)
    assert check.status == REGRESSED
    assert "20 nodes native-ipmi CPU ms/node +400.0%" in check.summary
    assert _figure(check, "20 nodes native-ipmi", "cycle s").verdict == ""
    assert _figure(check, "20 nodes native-ipmi", "polled").candidate == "20/20"


def test_a_bench_sweep_that_missed_healthy_bmcs_fails_whatever_the_figures(bench_doc):
    candidate = copy.deepcopy(bench_doc)
    row = candidate["rows"][0]
    row["correct"] = False
    candidate["correctness_failures"] = [{
        "size": 50, "fault": "none", "method": row["method"], "repeat": 2, "missed": 3, "wrong": 0,
        "examples": ["127.1.0.9:623: not answered"]}]
    check = compare.bench_check(candidate, bench_doc, 10.0)
    assert check.status == FAILED
    assert "3 healthy BMCs missed" in check.summary and "127.1.0.9:623" in check.summary


def test_a_density_row_with_live_nodes_not_polled_fails(density_doc):
    candidate = copy.deepcopy(density_doc)
    row = candidate["rows"][0]
    row["missed_live"], row["summary"]["polled_min"] = 2, 18
    check = compare.density_check(candidate, density_doc, 10.0)
    assert check.status == FAILED
    assert "live nodes not polled in a measured cycle (polled 18/20, 2 misses" in check.summary
    polled = _figure(check, "20 nodes native-ipmi", "polled")
    assert (polled.baseline, polled.candidate, polled.verdict) == ("20/20", "18/20", "incorrect")


def test_rows_on_one_side_only_are_listed_and_nothing_in_common_fails(bench_doc):
    candidate = copy.deepcopy(bench_doc)
    candidate["rows"] = [r for r in candidate["rows"] if r["method"] == "native"]
    check = compare.bench_check(candidate, bench_doc, 0.10)
    assert check.status == OK
    assert "only in baseline, not compared: 50 BMCs native-interface" in check.details
    for row in candidate["rows"]:
        row["size"] = 60
    check = compare.bench_check(candidate, bench_doc, 0.10)
    assert check.status == FAILED and check.summary.startswith("nothing to compare")


def test_without_a_baseline_the_figures_are_shown_uncompared(bench_doc, density_doc):
    check = compare.density_check(density_doc, None, 0.10)
    assert check.status == OK and "no baseline to compare with" in check.summary
    cpu = _figure(check, "20 nodes native-ipmi", "CPU ms/node")
    assert cpu.baseline is None and cpu.candidate == density_doc["rows"][0]["summary"][
        "conductor_cpu_ms_per_node"]["median"]
    assert cpu.verdict == "not compared"
