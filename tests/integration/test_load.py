"""32 clients at once through the gateway, each running create, attach,
list, detach and delete cycles in one project whose quota is smaller than
their demand: every cycle completes, the only errors are the quota's, and
afterwards the usage counters equal what exists, on disk too. How fast is
bench/'s business."""

from __future__ import annotations

import threading
import time

import grpc

from ember.v1 import attachment_pb2, quota_pb2, volume_pb2

CLIENTS = 32
CYCLES = 3
# Below the clients' demand, so that quota refusals happen under contention.
VOLUME_LIMIT = 20
# Not a rate: only a bound, so that a hung call fails the test instead of stalling it.
GIVE_UP_AFTER = 120.0
PROJECT = "load"
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])


class Worker:
    """One client's cycles, with what happened to each of its calls."""

    def __init__(self, client, together: threading.Barrier):
        self.client, self.together = client, together
        self.cycles = self.refused = 0
        self.errors: list = []

    def create(self):
        """An operation, or None when the quota refused."""
        try:
            return self.client.create(1)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            self.refused += 1
            return None

    def cycle(self, op) -> None:
        client = self.client
        volume = client.done(op, volume_pb2.Volume())
        attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
            volume_id=volume.id, instance_id="vm", connector=LOCAL), timeout=30)
        client.call(client.volumes.CompleteAttachment,
                    attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id))
        client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=50))
        client.call(client.volumes.DeleteAttachment,
                    attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id), timeout=30)
        client.done(client.delete(volume.id), volume_pb2.Volume())
        self.cycles += 1

    def run(self) -> None:
        deadline = time.monotonic() + GIVE_UP_AFTER
        try:
            op = self.create()
            # Every client's first create is in before any client deletes:
            # 32 creates against a limit of 20, so the quota must refuse some.
            self.together.wait(timeout=GIVE_UP_AFTER)
            while self.cycles < CYCLES:
                assert time.monotonic() < deadline, f"{self.cycles} cycles after {GIVE_UP_AFTER:.0f}s"
                if op is None:
                    time.sleep(0.05)
                    op = self.create()
                    continue
                self.cycle(op)
                op = None
        except grpc.RpcError as error:
            self.errors.append((error.code(), error.details()))
        except (AssertionError, threading.BrokenBarrierError) as failed:
            self.errors.append(str(failed)[:300] or type(failed).__name__)
        finally:
            # A client that failed before the barrier must not hold the others there.
            if self.errors:
                self.together.abort()


def test_32_clients_complete_every_cycle_see_only_quota_errors_and_leave_the_counters_exact(cluster):
    cluster.set_quota(PROJECT, volumes=VOLUME_LIMIT)
    clients = [cluster.client(PROJECT) for _ in range(CLIENTS)]
    together = threading.Barrier(CLIENTS)
    workers = [Worker(c, together) for c in clients]
    threads = [threading.Thread(target=w.run) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=GIVE_UP_AFTER + 60)
    assert not any(t.is_alive() for t in threads), "a client's call never came back"
    print(f"load: {sum(w.cycles for w in workers)} cycles, {sum(w.refused for w in workers)} quota refusals")
    assert [e for w in workers for e in w.errors] == []
    assert [w.cycles for w in workers] == [CYCLES] * CLIENTS
    assert sum(w.refused for w in workers) >= CLIENTS - VOLUME_LIMIT, "the quota was never reached"

    client = clients[0]
    volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest()).usage
    assert (usage["volumes"], usage["gigabytes"]) == (len(volumes), sum(v.size_gb for v in volumes)) == (0, 0)
    # This module's Ember serves only this project: every file is one of its volumes.
    pool = cluster.root / "volumes" / "file" / "default"
    assert {p.name.removeprefix("volume-") for p in pool.glob("volume-*")} == {v.id for v in volumes}
    for c in clients:
        c.close()
