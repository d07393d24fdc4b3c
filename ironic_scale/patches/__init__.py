"""The ``_sync_power_states`` patch series against Ironic: list, check, apply, revert, copy.

The series (``patches/`` at the top of the repository, shipped inside the wheel as
``ironic_scale/patches/data``) is quilt-style: a ``series`` file naming ``git format-patch
--full-index`` files in order. The blob checksums on each diff's ``index`` line are the
per-file checksums, so no manifest can drift from the patches.

Modules, one job each: ``errors`` (what can go wrong, with exit codes), ``checksum`` (git
blob ids), ``diff`` (parse and apply unified diffs in Python), ``series`` (the series file
and what it does to each file), ``sitepkgs`` (where Ironic is installed, which version),
``state`` (the record ``revert`` needs), ``writer`` (all-or-nothing file changes),
``tree`` (check, apply, revert, patched_copy), ``cli`` (``ironic-scale patches``).
"""
