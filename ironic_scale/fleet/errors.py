"""The one exception the fleet commands raise for bad input or an unusable cloud."""

from __future__ import annotations


class FleetError(ValueError):
    """A one-line, operator-facing error: ``ironic-scale`` prints it and exits 2.

    A ``ValueError`` so the top-level command reports it like every other bad input.
    """
