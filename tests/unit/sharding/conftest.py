"""`--config-file` parses into Ironic's global CONF, as a service would: drop the files after each test."""

import pytest


@pytest.fixture(autouse=True)
def _forget_parsed_config_files():
    yield
    from ironic.conf import CONF

    if CONF.config_file:
        CONF([], project="ironic", default_config_files=[], default_config_dirs=[])
