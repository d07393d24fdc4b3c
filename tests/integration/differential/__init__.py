"""Differential power-sync runs: one simulated fleet and one script of events, played
against two Ironics (stock, and the patched one with ``[conductor]bulk_power_sync``),
then compared node by node and power action by power action.

- ``script``: the fleet layout (a role per BMC) and the events, keyed by sync cycle.
- ``runner``: plays the script against one Ironic and records a ``Trace``.
- ``compare``: the differences between two traces, printed so a person can act on them.

It lives under tests/ and not in ``ironic_scale``: it drives a throwaway stack that
needs the checkout's deploy/ templates, and its verdict is a test's, not an operator's.
"""
