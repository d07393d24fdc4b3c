"""Operator entry point for the Ironic API load (the users live in the package).

    locust -f benchmarks/locustfile.py --host http://127.0.0.1:6385

Locust collects the User classes it finds in this module's namespace, so
importing them is all this file does. Settings: see
``ironic_scale.density.locustfile`` (IRONIC_SCALE_LOCUST_* environment variables).
"""

from ironic_scale.density.locustfile import IronicApiUser

__all__ = ["IronicApiUser"]
