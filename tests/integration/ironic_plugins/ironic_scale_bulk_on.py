"""pytest plugin (``-p ironic_scale_bulk_on``): every test runs with [conductor]bulk_power_sync on.

Ironic's TestCase resets its config fixture after each test, which clears overrides, so the
override is set again before every test. ``bulk_on_check.py`` run alongside proves it is on
inside an Ironic test.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import pytest
from ironic.conf import CONF


@pytest.fixture(autouse=True)
def bulk_power_sync_on():
    CONF.set_override("bulk_power_sync", True, "conductor")
    yield
    CONF.clear_override("bulk_power_sync", "conductor")
