"""Terminal text for the ``ring`` commands, rendered from the same dicts ``--format json`` prints."""

from __future__ import annotations

from ironic_scale.sharding.table import render_table


def balance_text(doc: dict) -> str:
    s = doc["settings"]
    out = [f"hash_partition_exponent={s['exponent']} ({2 ** s['exponent']} points per conductor), "
           f"hash_ring_algorithm={s['algorithm']}, orphaned nodes: {doc['orphaned']}", ""]
    for r in doc["rings"]:
        out.append(f"ring {r['key']}: {r['nodes']} nodes on {len(r['members'])} conductors, "
                   f"mean {r['mean']:.1f}, "
                   f"max/mean {r['max_over_mean']:.2f} (random placement {r['random_max_over_mean']:.2f}), "
                   f"min/mean {r['min_over_mean']:.2f}, stddev {r['stddev']:.1f} "
                   f"(random {r['random_stddev']:.1f})")
        rows = [(name, count, f"{100 * count / r['nodes']:.1f}%" if r["nodes"] else "-",
                 f"{count / r['mean']:.2f}x" if r["mean"] else "-")
                for name, count in sorted(r["counts"].items(), key=lambda kv: -kv[1])]
        out += [render_table(("conductor", "nodes", "share", "of mean"), rows), ""]
    if len(doc["per_machine"]) > 1 or any(len(v) > 1 for v in _by_machine(doc).values()):
        total = sum(doc["per_machine"].values()) or 1
        out.append("per host")
        out.append(render_table(("host", "nodes", "share"),
                                [(m, n, f"{100 * n / total:.1f}%") for m, n in doc["per_machine"].items()]))
        out.append("")
    rec = doc.get("recommendation")
    if rec:
        out.append(f"recommended exponent: {rec['exponent']}")
        out.append(render_table(("exponent", "max/mean", "nodes moved from current"),
                                [(c["exponent"], f"{c['max_over_mean']:.2f}",
                                  f"{100 * c['moved_fraction']:.1f}%") for c in rec["choices"]]))
    return "\n".join(out).rstrip() + "\n"


def _by_machine(doc: dict) -> dict[str, list[str]]:
    return doc.get("machines", {})


def plan_text(p: dict) -> str:
    b, a = p["before"], p["after"]
    out = [f"changes: {', '.join(p['changes'])}",
           f"conductors: {len(b['conductors'])} -> {len(a['conductors'])}; "
           f"exponent {b['settings']['exponent']} -> {a['settings']['exponent']}; "
           f"algorithm {b['settings']['algorithm']} -> {a['settings']['algorithm']}",
           f"nodes moved: {p['moved']} of {p['nodes']} ({100 * p['moved'] / max(1, p['nodes']):.1f}%), "
           f"ACTIVE: {p['moved_active']}, mid-operation: {len(p['moved_transitional'])}",
           f"orphaned: {p['orphaned_before']} -> {p['orphaned_after']}",
           f"max/mean: {p['max_over_mean_before']:.2f} -> {p['max_over_mean_after']:.2f}; busiest after: "
           f"{p['busiest_after']} with {p['busiest_after_nodes']} nodes",
           f"routing settles within {p['routing_seconds']} s; ACTIVE take-over done within "
           f"{p['takeover_seconds']} s ({_minutes(p['takeover_seconds'])})"]
    if p["moved_transitional"]:
        more = " ..." if len(p["moved_transitional"]) > 10 else ""
        out.append("WARNING: nodes mid-operation would change owner (finish or wait for them first): "
                   + ", ".join(p["moved_transitional"][:10]) + more)
    if p["moves"]:
        out += ["", render_table(("from -> to", "nodes"), list(p["moves"].items())[:20])]
    return "\n".join(out) + "\n"


def _minutes(seconds: int) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def validate_text(v: dict) -> str:
    s = v["settings"]
    head = (f"{v['agree']} of {v['nodes']} nodes: the API's conductor equals the prediction "
            f"(exponent {s['exponent']}, {s['algorithm']})")
    if v["exact"]:
        return head + "\nexact match\n"
    out = [head, f"{v['differ']} differ, e.g.:",
           render_table(("node", "predicted", "api"),
                        [(e["uuid"], e["predicted"], e["api"]) for e in v["examples"][:10]])]
    if v["matching_settings"]:
        out.append("the API's answers match: " + "; ".join(
            f"exponent {m['exponent']}, algorithm {m['algorithm']}" for m in v["matching_settings"]))
    else:
        out.append("no exponent/algorithm reproduces the API's answers: the conductor list, groups or "
                   "hardware types differ from what the API saw (rings refresh every "
                   "hash_ring_reset_interval)")
    return "\n".join(out) + "\n"
