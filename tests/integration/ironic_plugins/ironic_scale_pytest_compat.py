"""pytest plugin (``-p ironic_scale_pytest_compat``): lets pytest run Ironic's own TestCase classes.

Ironic's TestCase deletes every public instance attribute in a cleanup (``_clear_attrs``, to
free memory under stestr). pytest sets the bound test method on the instance before running
it and deletes it afterwards, so without this every Ironic test ends in AttributeError (pytest
9.2 with Ironic 39.0.0). That one attribute is kept; nothing the tests check changes.
Also writes where ``ironic`` was imported from to ``./ironic-imported-from``, so the caller can
see that the patched copy is what ran.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

from pathlib import Path

import ironic
from ironic.tests import base

_clear_attrs = base.TestCase._clear_attrs


def _clear_attrs_keeping_the_test_method(self):
    name = self._testMethodName
    method = self.__dict__.get(name)
    _clear_attrs(self)
    if method is not None:
        self.__dict__[name] = method


base.TestCase._clear_attrs = _clear_attrs_keeping_the_test_method

Path("ironic-imported-from").write_text(ironic.__file__)
