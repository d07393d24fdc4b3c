"""Run ironic-prometheus-exporter's notification driver on one node's sensor data.

``python -m tests.exporter_run NOTIFY_DRIVER HARDWARE_TYPE < sensor-data.json`` sends the data
as Ironic's conductor sends it (``ConductorManager._sensors_nodes_task``: event type
``hardware.<node's driver>.metrics``) through an oslo.messaging Notifier with that driver, and
prints {metric name: [[label items], value]} of what the driver wrote, as JSON.

A process of its own: importing ironic_prometheus_exporter registers a required option on the
global oslo.config CONF, which would break every Ironic test case after it in the same process.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import oslo_messaging
from ironic_prometheus_exporter import messaging
from oslo_config import cfg
from prometheus_client.parser import text_string_to_metric_families

TIMESTAMP_METRIC = "baremetal_last_payload_timestamp_seconds"


def exported(sensor_data: dict, notify_driver: str, hardware_type: str) -> dict[str, list]:
    conf = cfg.ConfigOpts()
    messaging.register_opts(conf)
    with tempfile.TemporaryDirectory() as location:
        conf.set_override("location", location, group="oslo_messaging_notifications")
        conf([], project="exporter-run")
        transport = oslo_messaging.get_notification_transport(conf, url="fake:/")
        notifier = oslo_messaging.Notifier(transport, driver=notify_driver, topics=["sensors"])
        event = f"hardware.{hardware_type}.metrics"
        notifier.info({}, event, {
            "message_id": "m", "instance_uuid": None, "node_name": "node-1",
            "node_uuid": "4e3b4f23-4bb2-4b0b-9a0f-2f2d3f7a3a11", "event_type": event + ".update",
            "timestamp": "2026-12-03T07:00:00.000000", "payload": sensor_data})
        text = "".join(p.read_text() for p in Path(location).iterdir())
    metrics: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != TIMESTAMP_METRIC:
                metrics.setdefault(sample.name, []).append(
                    [sorted(sample.labels.items()), sample.value])
    return metrics


if __name__ == "__main__":
    json.dump(exported(json.load(sys.stdin), sys.argv[1], sys.argv[2]), sys.stdout)
