"""The density test's series: which Ironic, which driver, which settings.

A series is named for what an operator would run: Ironic's own ``ipmi`` driver,
this project's ``native-ipmi`` driver on stock Ironic, and ``native-ipmi`` on
an Ironic with the ``patches/`` series applied and its bulk power sync turned
on. Every series gets the same simulated fleet and a fresh stack of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    name: str  # the series label in records, tables and plots
    driver: str  # the hardware type every node is enrolled with
    summary: str
    patched: bool = False  # Ironic's processes import the patched copy (patches/), not the venv's
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # ironic.conf, over --set


# The option the patch series adds; unknown options are ignored by oslo.config, so the
# patched copy is checked to define it before a stack is started with it.
BULK_SECTION, BULK_OPTION = "conductor", "bulk_power_sync"

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ipmi", "ipmi", "stock Ironic, its ipmitool driver"),
    Variant("native-ipmi", "native-ipmi", "stock Ironic, this project's driver"),
    Variant("native-ipmi-patched", "native-ipmi",
            f"Ironic with patches/ applied and [{BULK_SECTION}]{BULK_OPTION} = true, this project's driver",
            patched=True, options={BULK_SECTION: {BULK_OPTION: "true"}}),
)}
NAMES = tuple(VARIANTS)


def stack_options(variant: Variant, extra: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``extra`` (the run's --set) with the variant's own settings on top: they define it."""
    merged = {section: dict(opts) for section, opts in extra.items()}
    for section, opts in variant.options.items():
        merged.setdefault(section, {}).update(opts)
    return merged
