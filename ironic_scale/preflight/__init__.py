"""``ironic-scale preflight``: the checks and benchmarks an operator runs before an upgrade."""
