"""How the fleet commands reach Ironic: openstacksdk, as operators' own tools do.

``--os-cloud`` (clouds.yaml) or the ``OS_*`` variables with Keystone; ``--endpoint URL`` for
a standalone Ironic with ``auth_strategy = noauth``. Never the database.
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from ironic_scale.fleet.errors import FleetError

# A busy API (an all-in-one Ironic under a bulk import) may reset a connection; keystoneauth
# retries it with a back-off rather than failing the node.
CONNECT_RETRIES = 5


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("Ironic API (openstacksdk)")
    g.add_argument("--os-cloud", metavar="NAME",
                   help="cloud in clouds.yaml (default: the OS_* environment variables)")
    g.add_argument("--endpoint", metavar="URL",
                   help="a standalone Ironic's API URL with auth_strategy=noauth (no Keystone)")


def connect(args: argparse.Namespace) -> Any:
    """An openstacksdk connection whose ``baremetal`` proxy speaks the newest API version,
    checked by one request (a wrong URL or cloud is an error now, not at the first node)."""
    from ironic_scale.sharding.sources import connect as sdk_connect

    with warnings.catch_warnings():  # openstacksdk frowns on the API version "latest"
        warnings.simplefilter("ignore")
        try:
            conn = sdk_connect(cloud=args.os_cloud, endpoint=args.endpoint, connect_retries=CONNECT_RETRIES)
            conn.baremetal.get("/", raise_exc=False, connect_retries=0)
        except Exception as e:  # keystoneauth, clouds.yaml and endpoint errors alike
            raise FleetError(f"cannot reach the Ironic API: {' '.join(str(e).split())}") from None
    return conn


@contextlib.contextmanager
def api_errors(doing: str) -> Iterator[None]:
    """Turn an API failure outside per-node work (listing, driver details) into a one-line error."""
    from keystoneauth1.exceptions import ClientException
    from openstack.exceptions import SDKException

    try:
        yield
    except (SDKException, ClientException) as e:
        raise FleetError(f"{doing}: {' '.join(str(e).split())}") from None
