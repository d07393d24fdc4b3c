"""Measure what a power poll costs: native sessions against ipmitool and ipmipower.

cli.py (argparse, order of things) -> runner.py (sizes x fault mixes x methods x
repeats, one simulated fleet each) -> sweep.py (one method, one timed sweep;
meter.py measures CPU and RSS, readonly.py guards every request) -> verdict.py
(right answers?) -> results.py (the JSON document) -> report.py (table),
plot.py (PNG), compare.py (two documents, an upgrade gate), profile.py (py-spy).
"""
