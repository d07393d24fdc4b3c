"""PNG plot of a result document: CPU per node and sweep time against fleet size.

matplotlib is optional (the ``bench`` extra): without it the plot is skipped
with a note, and the table and JSON are unaffected.
"""

from __future__ import annotations

import os
from typing import Any

STYLES = ("-", "--", ":", "-.", (0, (1, 3)))


def _decades(ax: Any) -> float:
    """How many powers of ten the y axis spans (minor labels only when few)."""
    import math

    lo, hi = ax.get_ylim()
    return math.log10(hi / lo) if lo > 0 else 99.0


BENCH_PANELS = (("cpu_ms_per_node", "client CPU per node (ms)"), ("wall_seconds", "sweep time (s)"))
# Simulated fleets also know the session slots each BMC held; a linear axis (small integers).
SLOTS_PANEL = (("slots_max", "session slots held per BMC (max)"),)
LINEAR = {"slots_max"}


def bench_panels(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The bench's panels, with the slots panel when the rows measured slots."""
    if any(r["summary"].get("slots_max") for r in doc["rows"]):
        return BENCH_PANELS + SLOTS_PANEL
    return BENCH_PANELS


def plot(doc: dict[str, Any], path: str, panels: tuple[tuple[str, str], ...] | None = None,
         x_label: str = "fleet size (BMCs)", title: str | None = None,
         colours: dict[str, str] | None = None) -> str:
    """Write the plot; return a one-line note saying what happened.

    ``doc["rows"]`` hold ``method``, ``fault``, ``size`` and ``summary[figure]``
    spreads; the density test plots its own figures through ``panels``, and keeps
    one colour per series through ``colours`` (methods not in it get the next free one).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'ironic-scale[bench]')"

    panels = panels or bench_panels(doc)
    faults = list(dict.fromkeys(r["fault"] for r in doc["rows"]))
    methods = list(dict.fromkeys(r["method"] for r in doc["rows"]))
    colours = dict(colours or {})
    spare = (f"C{i}" for i in range(100) if f"C{i}" not in colours.values())
    for m in methods:
        if m not in colours:
            colours[m] = next(spare)
    sizes = sorted({r["size"] for r in doc["rows"]})
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.2))
    for ax, (figure, panel_title) in zip(axes, panels, strict=True):
        for fi, fault in enumerate(faults):
            for m in methods:
                rows = sorted((r for r in doc["rows"] if r["method"] == m and r["fault"] == fault
                               and r["summary"][figure]), key=lambda r: r["size"])
                if not rows:
                    continue
                x = [r["size"] for r in rows]
                med = [r["summary"][figure]["median"] for r in rows]
                err = [[v - r["summary"][figure]["min"] for v, r in zip(med, rows, strict=True)],
                       [r["summary"][figure]["max"] - v for v, r in zip(med, rows, strict=True)]]
                label = m if len(faults) == 1 else f"{m} [{fault}]"
                ax.errorbar(x, med, yerr=err, label=label, color=colours[m], marker="o",
                            linestyle=STYLES[fi % len(STYLES)], capsize=3)
        ax.set_xscale("log")
        plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        if figure in LINEAR:
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        else:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain if _decades(ax) < 2 else ticker.NullFormatter())
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel(x_label)
        ax.set_title(panel_title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    machine = doc.get("machine", {})
    title = title or (f"ironic-scale bench, {doc.get('started', '')}: medians of "
                      f"{doc['settings'].get('repeats')} sweeps (bars: min-max)")
    fig.suptitle(f"{title}, {machine.get('cores')} cores, {machine.get('cpu_model') or ''}", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot: {path}"
