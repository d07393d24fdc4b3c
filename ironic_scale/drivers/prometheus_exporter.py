"""ironic-prometheus-exporter's notification driver, taught the ``native-ipmi`` hardware type.

Ironic sends a node's sensor data with the event type ``hardware.<node's driver>.metrics``,
and the exporter (``[oslo_messaging_notifications]driver = prometheus_exporter``) parses only
``hardware.ipmi.metrics`` (and Redfish's) with its IPMI parser: for a node on the
``native-ipmi`` hardware type it writes the timestamp and drops every sensor. This driver is
the exporter's own, with ``hardware.native-ipmi.metrics`` routed to the same IPMI parser
(native-ipmi's sensor data has ipmitool's shape), so the metric names are the same as for the
``ipmi`` driver's nodes. Enable it instead of the stock one::

    [oslo_messaging_notifications]
    driver = ironic_scale_prometheus_exporter
    location = /var/lib/ironic/prometheus

Needs the ``ironic-prometheus-exporter`` package (``pip install ironic-scale[exporter]``).
"""

from __future__ import annotations

from ironic_prometheus_exporter import messaging
from ironic_prometheus_exporter.parsers import ipmi

EVENT_TYPE = "hardware.native-ipmi.metrics"


class PrometheusFileDriver(messaging.PrometheusFileDriver):
    """The exporter's file driver; native-ipmi nodes' sensors go through its IPMI parser."""

    NODE_PARSERS = {**messaging.PrometheusFileDriver.NODE_PARSERS,
                    EVENT_TYPE: ipmi.category_registry}
