"""A storage host's task queue is its own: the gateway sends the deletes and
snapshots of a volume to the volume's host, which alone publishes to its
queue, and a delete accepted while that host is away waits for its return.
The cluster fails its stop if nats-server refused any publish on the way."""

from __future__ import annotations

import pytest

from ember.v1 import snapshot_pb2, volume_pb2
from tests.harness import Cluster
from tests.settling import wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.start_nats()
        c.start("scheduler")
        c.start("volume", EMBER_AVAILABILITY_ZONE="east")
        c.start("volume", name="volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(tmp_path / "b"),
                EMBER_AVAILABILITY_ZONE="west")
        c.start("api_gateway")
        yield c
    finally:
        c.stop()


def test_deletes_and_snapshots_of_another_hosts_volume_reach_its_queue(cluster):
    client = cluster.client("queues")
    volume = client.create_available(1, availability_zone="west")
    assert volume.host.startswith("host-b")
    # Each call would go to host-a half the time without the routing.
    for _ in range(5):
        snapshot = client.done(client.call(client.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
            volume_id=volume.id)), snapshot_pb2.Snapshot())
        assert snapshot.status == snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE
        client.done(client.call(client.snapshots.DeleteSnapshot, snapshot_pb2.DeleteSnapshotRequest(
            id=snapshot.id)), snapshot_pb2.Snapshot())
    client.done(client.delete(volume.id), volume_pb2.Volume())
    assert "another host's queue" not in cluster.logs()


def test_a_delete_accepted_while_its_host_is_away_finishes_when_it_returns(cluster):
    client = cluster.client("queues-away")
    volume = client.create_available(1, availability_zone="west")
    host_b = next(p for p in cluster.processes if p.name == "volume-b")
    host_b.stop()
    cluster.processes.remove(host_b)
    # host-a takes the call, and leaves the task to host-b's own reconciler.
    op = client.delete(volume.id)
    assert not client.wait(op, timeout=3).done
    cluster.start("volume", name="volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(cluster.root / "b"),
                  EMBER_AVAILABILITY_ZONE="west")
    done = client.wait(op, timeout=60)
    assert done.done and not done.HasField("error"), done
    wait_for(lambda: [v.id for v in client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes],
             lambda ids: volume.id not in ids, timeout=30)
    assert "is for ember.tasks.volume.host-b.delete, another host's queue" in cluster.logs()
