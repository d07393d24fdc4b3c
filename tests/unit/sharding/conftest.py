"""`--config-file` parses into Ironic's global CONF, as a service would: drop the files after each test."""

import pytest
from oslo_config import cfg


@pytest.fixture(autouse=True)
def _forget_parsed_config_files():
    yield
    from ironic.conf import CONF

    try:
        parsed = CONF.config_file
    except cfg.NoSuchOptError:  # never parsed, or reset by an Ironic TestCase's config fixture
        return
    if parsed:
        CONF.clear()
