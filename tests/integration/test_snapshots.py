"""Snapshots, volumes from snapshots, clones and extend with real data:
what a volume held at snapshot time is what a volume made from the snapshot
holds, byte for byte; and the rules around them."""

import os

import grpc
import pytest

from ember.v1 import attachment_pb2, snapshot_pb2, volume_pb2
from tests.integration.errors_util import details

MIB = 1024 * 1024
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


class Disk:
    """A volume attached locally: its file, written and read directly."""

    def __init__(self, client, volume_id):
        self.client = client
        self.attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
            volume_id=volume_id, instance_id="test", connector=LOCAL))
        client.call(client.volumes.CompleteAttachment,
                    attachment_pb2.CompleteAttachmentRequest(attachment_id=self.attachment.id))
        self.path = self.attachment.connection_info.data["device_path"]

    def write(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as f:
            f.seek(offset)
            f.write(data)
            os.fsync(f.fileno())

    def read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def size(self) -> int:
        return os.stat(self.path).st_size

    def detach(self) -> None:
        self.client.call(self.client.volumes.DeleteAttachment,
                         attachment_pb2.DeleteAttachmentRequest(attachment_id=self.attachment.id))


def snapshot(client, volume_id, **fields) -> snapshot_pb2.Snapshot:
    op = client.call(client.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(volume_id=volume_id, **fields))
    return client.done(op, snapshot_pb2.Snapshot())


def extend(client, volume_id, size):
    return client.call(client.volumes.ExtendVolume, volume_pb2.ExtendVolumeRequest(id=volume_id, new_size_gb=size))


def test_snapshot_clone_extend_keep_the_data(cluster):
    client = cluster.client("snapdata")
    then = os.urandom(10 * MIB)
    later = os.urandom(10 * MIB)
    volume = client.create_available(1)
    disk = Disk(client, volume.id)
    disk.write(0, then)
    disk.write(700 * MIB, then[:MIB])
    disk.detach()

    snap = snapshot(client, volume.id, name="before")
    assert (snap.status, snap.size_gb, snap.name) == (snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE, 1, "before")

    disk = Disk(client, volume.id)
    disk.write(0, later)
    disk.detach()

    restored = client.create_available(2, source_snapshot_id=snap.id)
    assert restored.source_snapshot_id == snap.id and restored.host.partition("#")[0] == volume.host.partition("#")[0]
    disk = Disk(client, restored.id)
    assert disk.size() == 2 * 1024**3
    assert disk.read(0, 10 * MIB) == then and disk.read(700 * MIB, MIB) == then[:MIB]
    assert disk.read(1024**3, MIB) == bytes(MIB)
    disk.detach()

    clone = client.create_available(0, source_volume_id=volume.id)
    assert clone.size_gb == 1 and clone.source_volume_id == volume.id
    disk = Disk(client, clone.id)
    assert disk.read(0, 10 * MIB) == later
    disk.detach()

    grown = client.done(extend(client, volume.id, 3), volume_pb2.Volume())
    assert (grown.size_gb, grown.status) == (3, volume_pb2.VOLUME_STATUS_AVAILABLE)
    disk = Disk(client, volume.id)
    assert disk.size() == 3 * 1024**3 and disk.read(0, 10 * MIB) == later
    disk.detach()


def test_snapshots_copy_only_allocated_data(cluster):
    client = cluster.client("sparse")
    volume = client.create_available(1)
    disk = Disk(client, volume.id)
    disk.write(300 * MIB, os.urandom(MIB))
    disk.detach()
    snap = snapshot(client, volume.id)
    snap_file = cluster.root / "volumes" / "file" / "default" / f"snapshot-{snap.id}"
    assert snap_file.stat().st_size == 1024**3
    assert snap_file.stat().st_blocks * 512 < 4 * MIB


def test_forbidden_steps_are_failed_preconditions_and_change_nothing(cluster):
    client = cluster.client("rules5")
    volume = client.create_available(1)
    disk = Disk(client, volume.id)
    error = fails(snapshot, client, volume.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "pass force" in error.details()
    error = fails(extend, client, volume.id, 2)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "in-use" in error.details()
    forced = snapshot(client, volume.id, force=True)
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    disk.detach()

    error = fails(client.delete, volume.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error)[0].reason == "VOLUME_HAS_SNAPSHOTS" and client.get(volume.id).size_gb == 1
    assert fails(extend, client, volume.id, 1).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    big = client.create_available(2)
    big_snap = snapshot(client, big.id)
    error = fails(client.create, 1, source_snapshot_id=big_snap.id)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "smaller than the source" in error.details()

    other = cluster.client("rules5-other")
    assert fails(other.create, 1, source_snapshot_id=forced.id).code() == grpc.StatusCode.NOT_FOUND
    assert fails(snapshot, other, volume.id).code() == grpc.StatusCode.NOT_FOUND

    gone = client.wait(client.call(client.volumes.DeleteVolume, volume_pb2.DeleteVolumeRequest(id=volume.id, cascade=True)))
    assert gone.done and not gone.HasField("error"), gone
    assert fails(client.call, client.snapshots.GetSnapshot,
                 snapshot_pb2.GetSnapshotRequest(id=forced.id)).code() == grpc.StatusCode.NOT_FOUND
    assert not list((cluster.root / "volumes" / "file" / "default").glob(f"snapshot-{forced.id}"))


def test_snapshot_delete_and_quota(cluster):
    cluster.set_quota("snapquota", snapshots=1)
    client = cluster.client("snapquota")
    volume = client.create_available(1)
    first = snapshot(client, volume.id)
    error = fails(snapshot, client, volume.id)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and details(error)[0].metadata["quota"] == "snapshots"
    op = client.call(client.snapshots.DeleteSnapshot, snapshot_pb2.DeleteSnapshotRequest(id=first.id))
    assert client.done(op, snapshot_pb2.Snapshot()).id == first.id
    listed = client.call(client.snapshots.ListSnapshots, snapshot_pb2.ListSnapshotsRequest(volume_id=volume.id))
    assert not listed.snapshots
    snapshot(client, volume.id)


def test_metadata_keys_merge_and_replace_within_limits(cluster):
    from google.protobuf import field_mask_pb2

    client = cluster.client("metadata")
    volume = client.create_available(1, metadata={"a": "1", "b": "2"})

    def update(paths, **fields):
        return client.call(client.volumes.UpdateVolume, volume_pb2.UpdateVolumeRequest(
            volume=volume_pb2.Volume(id=volume.id, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)))

    merged = update(["metadata.c", "metadata.a"], metadata={"c": "3"})
    assert dict(merged.metadata) == {"b": "2", "c": "3"}
    replaced = update(["metadata"], metadata={"z": "9"})
    assert dict(replaced.metadata) == {"z": "9"}
    error = fails(update, ["metadata"], metadata={f"k{i}": "v" for i in range(65)})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 64 items" in error.details()
    error = fails(update, ["metadata.x"], metadata={"x": "v" * 300})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(client.get(volume.id).metadata) == {"z": "9"}
    snap = snapshot(client, volume.id, metadata={"k": "v"})
    renamed = client.call(client.snapshots.UpdateSnapshot, snapshot_pb2.UpdateSnapshotRequest(
        snapshot=snapshot_pb2.Snapshot(id=snap.id, name="renamed", metadata={"n": "1"}),
        update_mask=field_mask_pb2.FieldMask(paths=["name", "metadata.n"])))
    assert (renamed.name, dict(renamed.metadata)) == ("renamed", {"k": "v", "n": "1"})
