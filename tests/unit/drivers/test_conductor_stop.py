"""The stop hook: Ironic's conductor collects our periodic task, which waits on the manager's
stop event and then has the engine release every BMC session (no BMC here: a mock engine)."""

import threading
import time
from unittest import mock

from ironic.conductor import manager as conductor_manager
from ironic.conf import CONF

from ironic_scale.drivers import common, conductor_stop
from tests.unit.drivers import NativeIPMITestCase


def wait_for(condition, limit: float = 5.0) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class ConductorStopTestCase(NativeIPMITestCase):
    def setUp(self) -> None:
        super().setUp()
        self.engine = mock.Mock(spec=["keep_sessions", "release_sessions"])
        self.patch(common, "engine", lambda: self.engine)
        self.patch(conductor_stop, "_watched", set())
        self.patch(conductor_stop, "_warned", False)

    def _manager(self) -> conductor_manager.ConductorManager:
        mgr = conductor_manager.ConductorManager("test-host", "test-topic")
        mgr._init_executors(CONF.conductor.workers_pool_size,
                            CONF.conductor.reserved_workers_pool_percentage)
        self.addCleanup(mgr._executor.shutdown, wait=False)
        return mgr

    def test_ironic_collects_the_hook_from_both_interfaces_and_passes_the_manager(self):
        mgr = self._manager()
        mgr._collect_periodic_tasks(self.context)
        hooks = [(fn, args) for fn, args, _ in mgr._periodic_task_callables
                 if fn.__name__ == "_log_out_on_conductor_stop"]
        owners = {type(fn.__self__).__name__ for fn, _ in hooks}
        self.assertEqual({"NativeIPMIPower", "NativeIPMIManagement"}, owners)
        self.assertTrue(all(args == (mgr, self.context) for _, args in hooks))
        self.assertTrue(all(fn._periodic_run_immediately for fn, _ in hooks))

        for fn, args in hooks:  # both run at start-up: one watcher
            fn(*args)
        self.assertEqual(1, self.engine.keep_sessions.call_count)
        watchers = [t for t in threading.enumerate() if t.name == "native-ipmi-stop-watch"]
        self.assertEqual(1, len(watchers))
        time.sleep(0.05)
        self.engine.release_sessions.assert_not_called()

        mgr._shutdown.set()  # what del_host does first on every graceful stop
        self.assertTrue(wait_for(lambda: self.engine.release_sessions.called))
        self.assertTrue(wait_for(lambda: not watchers[0].is_alive()))
        self.assertEqual(1, self.engine.release_sessions.call_count)

    def test_a_conductor_started_again_keeps_sessions_again(self):
        first, second = self._manager(), self._manager()
        self.assertTrue(conductor_stop.watch(first))
        first._shutdown.set()
        self.assertTrue(wait_for(lambda: self.engine.release_sessions.called))
        self.assertTrue(conductor_stop.watch(second))
        self.assertEqual(2, self.engine.keep_sessions.call_count)
        second._shutdown.set()
        self.assertTrue(wait_for(lambda: self.engine.release_sessions.call_count == 2))

    def test_an_ironic_without_the_stop_event_gets_one_warning(self):
        with mock.patch.object(conductor_stop.LOG, "warning") as warning:
            self.assertFalse(conductor_stop.watch(object()))
            self.assertFalse(conductor_stop.watch(object()))
        warning.assert_called_once()
        self.assertIn("hold their BMC slots until the BMCs expire them", warning.call_args[0][0])
        self.engine.keep_sessions.assert_not_called()
