"""The candidate's bench and density results against the baseline's, as preflight checks.

Both use ``bench compare``'s rule (``ironic_scale.bench.compare.diff_rows``): rows are
matched by what was measured, each figure's median is compared, and a figure more than the
threshold slower is a regression. A candidate row whose answers were wrong or missing (a
healthy BMC not answered, a live node not polled in a cycle) fails the check whatever the
baseline says: slower can be a judgement call, wrong never is.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ironic_scale.bench import compare as rule
from ironic_scale.bench.compare import Diff, FigureSpec, bench_diff, diff_rows, median
from ironic_scale.preflight.model import FAILED, OK, REGRESSED, Check, Figure

DENSITY_FIGURES: tuple[FigureSpec, ...] = (("conductor_cpu_ms_per_node", "CPU ms/node", ".3f"),
                                       ("cycle_seconds", "cycle s", ".3f"))
DensityKey = tuple[int, str, int]


def bench_label(key: tuple[int, str, str]) -> str:
    size, fault, method = key
    return f"{size} BMCs {method}" + ("" if fault == "none" else f" (faults {fault})")


def density_label(key: DensityKey) -> str:
    size, driver, conductors = key
    return f"{size} nodes {driver}" + ("" if conductors == 1 else f" x{conductors} conductors")


def density_index(doc: dict[str, Any]) -> dict[DensityKey, dict[str, Any]]:
    return {(r["size"], r["method"], r.get("conductors", 1)): r for r in doc["rows"]}


def polled_all(row: dict[str, Any]) -> bool:
    """Every live node polled in every measured cycle (the simulator's count), and cycles measured."""
    polled, expected = row["summary"].get("polled_min"), row.get("expected")
    if not row.get("cycles") or polled is None or expected is None:
        return False
    return row.get("missed_live", 0) == 0 and polled >= expected


def _polled_text(row: dict[str, Any]) -> str:
    return f"{row['summary'].get('polled_min')}/{row.get('expected')}"


def _bench_failures(doc: dict[str, Any]) -> list[str]:
    out = [f"{bench_label((f['size'], f['fault'], f['method']))} sweep {f['repeat']}: {f['missed']} healthy "
           f"BMCs missed, {f['wrong']} answered wrong (e.g. {'; '.join(f['examples'][:2])})"
           for f in doc.get("correctness_failures") or []]
    for fleet in doc.get("write_requests_seen") or []:
        out.append(f"{fleet['size']} BMCs: the simulator saw write requests {fleet['writes']}: "
                   "the bench must only read")
    return out


def _density_failures(doc: dict[str, Any]) -> list[str]:
    return [f"{density_label(k)}: live nodes not polled in a measured cycle (polled {_polled_text(r)}, "
            f"{r.get('missed_live', 0)} misses over {r.get('cycles', 0)} cycles)"
            for k, r in density_index(doc).items() if not polled_all(r)]


def _figures(diff: Diff, label: Callable[[Any], str]) -> list[Figure]:
    verdicts = {rule.REGRESSED: REGRESSED, rule.FASTER: "faster", "": ""}
    out = []
    for row in diff.rows:
        for c in row.changes:
            verdict = verdicts[c.verdict] if c.change is not None else "not compared"
            out.append(Figure(label(row.key), c.name, c.old, c.new, c.change, verdict))
    return out


def _measured(index: dict[Hashable, dict[str, Any]], figures: tuple[FigureSpec, ...],
              label: Callable[[Any], str]) -> list[Figure]:
    """The candidate's figures alone (no baseline to compare with: --save-baseline)."""
    return [Figure(label(k), name, None, median(r, fig), None, "not compared")
            for k, r in index.items() for fig, name, _ in figures]


def _judge(check: Check, diff: Diff | None, failures: list[str], threshold: float,
           label: Callable[[Any], str]) -> Check:
    """Status and summary from the candidate's failures and the diff's regressions."""
    if failures:
        check.status, check.summary = FAILED, f"{len(failures)} incorrect: {failures[0]}"
        check.details += failures[1:]
        return check
    if diff is None:
        rows = len({f.row for f in check.figures})
        check.status, check.summary = OK, f"measured {rows} row(s), all correct (no baseline to compare with)"
        return check
    if not diff.rows:
        check.status = FAILED
        check.summary = (f"nothing to compare: no row measured here is in the baseline (baseline: "
                         f"{', '.join(map(label, diff.only_old)) or 'none'}; here: "
                         f"{', '.join(map(label, diff.only_new)) or 'none'})")
        return check
    regressed = [f for f in check.figures if f.verdict == REGRESSED]
    compared = sum(1 for f in check.figures if f.change is not None)
    if regressed:
        check.status = REGRESSED
        named = "; ".join(f"{f.row} {f.name} {f.change_text}" for f in regressed)
        check.summary = (f"{len(regressed)} of {compared} figures slower than the baseline by more than "
                         f"{threshold:.0%}: {named}")
    else:
        faster = sum(1 for f in check.figures if f.verdict == "faster")
        check.status = OK
        check.summary = (f"{compared} figures within {threshold:.0%} of the baseline"
                         + (f" ({faster} faster by more than that)" if faster else ""))
    for side, only in (("baseline", diff.only_old), ("this run", diff.only_new)):
        if only:
            check.details.append(f"only in {side}, not compared: {', '.join(map(label, only))}")
    return check


def bench_check(candidate: dict[str, Any], baseline: dict[str, Any] | None, threshold: float) -> Check:
    """The bench part: the candidate's sweeps must be correct and no slower than the baseline's."""
    check = Check("bench", OK, "")
    diff = None
    if baseline is None:
        index = {(r["size"], r["fault"], r["method"]): r for r in candidate["rows"]}
        check.figures = _measured(index, rule.FIGURES, bench_label)
    else:
        diff = bench_diff(baseline, candidate, threshold)
        check.figures = _figures(diff, bench_label)
    return _judge(check, diff, _bench_failures(candidate), threshold, bench_label)


def density_check(candidate: dict[str, Any], baseline: dict[str, Any] | None, threshold: float) -> Check:
    """The density part: every live node polled every cycle, CPU per node and cycle time no slower."""
    check = Check("density", OK, "")
    cand = density_index(candidate)
    diff = None
    if baseline is None:
        check.figures = _measured(cand, DENSITY_FIGURES, density_label)
    else:
        diff = diff_rows(density_index(baseline), cand, DENSITY_FIGURES, threshold, median, polled_all)
        check.figures = _figures(diff, density_label)
    # Polled-all is a correctness figure: shown per row, judged by _density_failures.
    base = density_index(baseline) if baseline is not None else {}
    for key, row in cand.items():
        before = _polled_text(base[key]) if key in base else None
        check.figures.append(Figure(density_label(key), "polled", before, _polled_text(row), None,
                                    "" if polled_all(row) else "incorrect"))
    return _judge(check, diff, _density_failures(candidate), threshold, density_label)
