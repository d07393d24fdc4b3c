"""Fails unless [conductor]bulk_power_sync is on inside an Ironic DB test (the plugin works)."""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

from ironic.conf import CONF
from ironic.tests.unit.db import base as db_base


class BulkPowerSyncIsOnTestCase(db_base.DbTestCase):
    def test_bulk_power_sync_is_on(self):
        self.assertIs(True, CONF.conductor.bulk_power_sync)
