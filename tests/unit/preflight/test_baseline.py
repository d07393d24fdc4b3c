"""Baselines: a saved preflight baseline, a plain bench or density result, and what is refused."""

from __future__ import annotations

import json

import pytest

from ironic_scale.preflight import baseline
from ironic_scale.preflight.baseline import BaselineError
from tests.unit.preflight.conftest import FIXTURE


def _write(tmp_path, doc, name="b.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_a_saved_baseline_has_both_parts_and_its_environment():
    b = baseline.load(str(FIXTURE))
    assert b.kind == "preflight" and b.missing == {}
    assert b.part("bench")["tool"] == "ironic-scale bench"
    assert b.part("density")["kind"] == "ironic-scale density"
    assert b.environment["ironic"] == "39.0.0" and b.environment["patch series"] == "not applied"


def test_save_then_load_keeps_the_reason_a_part_is_missing(tmp_path, bench_doc):
    path = str(tmp_path / "new.json")
    baseline.save(path, {"ironic": "39.0.0"}, {"argv": []}, {"bench": bench_doc, "density": None},
                  {"density": "--skip-density"})
    b = baseline.load(path)
    assert b.part("density") is None
    assert b.missing == {"density": "the baseline has no density results (--skip-density)"}


def test_a_bench_result_is_a_baseline_without_density(tmp_path, bench_doc):
    b = baseline.load(_write(tmp_path, bench_doc))
    assert b.kind == "bench" and b.part("bench") == bench_doc
    assert "it has no density figures" in b.missing["density"]
    assert b.environment["patch series"] == "not recorded"
    assert b.environment["pyghmi"] == bench_doc["versions"]["pyghmi"]


def test_a_density_result_is_a_baseline_without_bench(tmp_path, density_doc):
    b = baseline.load(_write(tmp_path, density_doc))
    assert b.kind == "density" and "it has no bench figures" in b.missing["bench"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
    ("[1, 2]", "not a JSON object"),
    ({"kind": "something else"}, "not an ironic-scale preflight baseline, nor a bench or density result"),
    ({"kind": baseline.KIND, "schema": 99}, "schema 99, this ironic-scale reads schema 1"),
    ({"kind": baseline.KIND, "schema": 1, "bench": None, "density": None}, "holds neither bench nor density"),
    ({"kind": baseline.KIND, "schema": 1, "bench": {"rows": [{"size": 50, "fault": "none"}]}},
     "bench row 1 lacks method, summary"),
])
def test_broken_baselines_are_refused_in_one_line(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(BaselineError) as e:
        baseline.load(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"baseline {path}: ")


def test_a_missing_baseline_is_named(tmp_path):
    with pytest.raises(BaselineError, match=r"baseline .*nope.json: no such file$"):
        baseline.load(str(tmp_path / "nope.json"))
