"""32 clients at once through the gateway for a bounded time, each creating,
attaching, listing, detaching and deleting volumes in one project whose
quota is smaller than their demand: the only errors are the quota's, and
afterwards the usage counters equal what exists, on disk too."""

from __future__ import annotations

import collections
import threading
import time

import grpc

from ember.v1 import attachment_pb2, quota_pb2, volume_pb2

CLIENTS = 32
RUN_FOR = 8.0
PROJECT = "load"
# Below the clients' demand, so that quota refusals happen under contention.
VOLUME_LIMIT = 20
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])


def workload(client, stop: threading.Event, outcomes: collections.Counter, errors: list) -> None:
    while not stop.is_set():
        try:
            op = client.create(1)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                outcomes["quota refused"] += 1
                time.sleep(0.05)
                continue
            errors.append(("create", error.code(), error.details()))
            continue
        try:
            volume = client.done(op, volume_pb2.Volume())
            attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
                volume_id=volume.id, instance_id="vm", connector=LOCAL), timeout=30)
            client.call(client.volumes.CompleteAttachment,
                        attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id))
            client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=50))
            client.call(client.volumes.DeleteAttachment,
                        attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id), timeout=30)
            client.done(client.delete(volume.id), volume_pb2.Volume())
            outcomes["cycles"] += 1
        except grpc.RpcError as error:
            errors.append(("cycle", error.code(), error.details()))
        except AssertionError as failed:
            errors.append(("operation", str(failed)[:300]))


def test_32_clients_see_only_quota_errors_and_leave_the_counters_exact(cluster):
    cluster.set_quota(PROJECT, volumes=VOLUME_LIMIT)
    clients = [cluster.client(PROJECT) for _ in range(CLIENTS)]
    outcomes: collections.Counter = collections.Counter()
    errors: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=workload, args=(c, stop, outcomes, errors)) for c in clients]
    for t in threads:
        t.start()
    time.sleep(RUN_FOR)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    print(f"load: {dict(outcomes)} in {RUN_FOR:.0f}s with {CLIENTS} clients")
    assert errors == [], errors[:5]
    assert outcomes["cycles"] >= CLIENTS, outcomes
    assert outcomes["quota refused"] > 0, "the quota was never reached; the test did not contend"

    client = clients[0]
    volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest()).usage
    assert (usage["volumes"], usage["gigabytes"]) == (len(volumes), sum(v.size_gb for v in volumes)) == (0, 0)
    # This module's Ember serves only this project: every file is one of its volumes.
    pool = cluster.root / "volumes" / "file" / "default"
    assert {p.name.removeprefix("volume-") for p in pool.glob("volume-*")} == {v.id for v in volumes}
    for c in clients:
        c.close()
