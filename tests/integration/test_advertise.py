"""Services that bind every address work through what they advertise: the
registry, `ember status`, the gateway's routing and the NBD connection info
all carry the advertised address, never the wildcard."""

import json

from ember.v1 import attachment_pb2
from tests import nbd
from tests.integration.live_util import ember
from tests.integration.test_attachments import NBD_ONLY, attach, detach

WILDCARD = {
    "EMBER_LISTEN": "0.0.0.0:0", "EMBER_ADVERTISE": "127.0.0.1",
    "EMBER_METRICS_LISTEN": "0.0.0.0:0", "EMBER_METRICS_ADVERTISE": "127.0.0.1",
}


def test_services_bound_to_every_address_are_reached_at_what_they_advertise(fresh_cluster):
    nbd.require_tools()
    extra = {module: dict(WILDCARD) for module in ("api_gateway", "scheduler", "volume", "backup")}
    extra["volume"].update(EMBER_NBD_LISTEN="0.0.0.0", EMBER_NBD_ADVERTISE="127.0.0.1")
    fresh_cluster.start_all(gateway_listen="0.0.0.0:0", extra=extra)
    assert fresh_cluster.gateway.startswith("127.0.0.1:")

    shown = ember(fresh_cluster, "status", "--json")
    instances = json.loads(shown.stdout)["status"]["instances"]
    assert {i["service"] for i in instances} == {"gateway", "scheduler", "volume", "backup"}
    for instance in instances:
        assert instance["address"].startswith("127.0.0.1:") and not instance["address"].endswith(":0"), instance
        assert instance["metrics_address"].startswith("127.0.0.1:"), instance

    client = fresh_cluster.client()
    volume = client.create_available()
    attachment = attach(client, volume.id, NBD_ONLY, attachment_pb2.ATTACH_MODE_RW)
    data = attachment.connection_info.data
    assert data["host"] == "127.0.0.1" and data["uri"].startswith("nbds://127.0.0.1:"), data
    assert nbd.answers(data)
    detach(client, attachment.id)
