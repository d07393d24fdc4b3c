"""``ironic-scale preflight``: the checks and benchmarks an operator runs before an upgrade.

Modules, one job each: ``cli`` (options, input checks), ``run`` (the order of things),
``plan`` (what bench and density will run, from the options and the baseline), ``static``
(patch series and config checks), ``measure`` (bench and density in-process), ``compare``
(candidate against baseline, with ``bench compare``'s rule), ``baseline`` (load and save),
``environment`` (versions side by side), ``model`` (checks, statuses, exit code) and
``report`` (JSON, terminal table, Markdown).
"""
