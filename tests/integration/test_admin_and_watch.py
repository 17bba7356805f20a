"""Admins' recovery (reset-status, force-delete), recorded as events; and the
Watch streams that follow a resource until it is stable."""

import asyncio
import json

import grpc
import nats
import pytest

from ember import subjects
from ember.v1 import attachment_pb2, snapshot_pb2, volume_pb2


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


def last_event(cluster, resource: str, resource_id: str) -> dict:
    async def fetch():
        nc = await nats.connect(cluster.nats.address, **cluster.nats_options())
        try:
            msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, subjects.event(resource, resource_id))
            return json.loads(msg.data)
        finally:
            await nc.close()

    return asyncio.run(fetch())


def test_only_admins_reset_statuses_and_each_reset_is_an_event(cluster):
    user, admin = cluster.client("stuck"), cluster.client("ops", admin=True)
    volume = user.create_available(1)
    reset = volume_pb2.ResetVolumeStatusRequest(id=volume.id, status=volume_pb2.VOLUME_STATUS_ERROR)
    assert fails(user.call, user.volumes.ResetVolumeStatus, reset).code() == grpc.StatusCode.PERMISSION_DENIED
    assert admin.call(admin.volumes.ResetVolumeStatus, reset).status == volume_pb2.VOLUME_STATUS_ERROR
    assert user.get(volume.id).status == volume_pb2.VOLUME_STATUS_ERROR
    event = last_event(cluster, "volumes", volume.id)
    assert (event["status"], event["admin_action"], event["by"]) == ("error", "reset_status", "tester@ops")
    bad = volume_pb2.ResetVolumeStatusRequest(id=volume.id, status=volume_pb2.VOLUME_STATUS_UNSPECIFIED)
    assert fails(admin.call, admin.volumes.ResetVolumeStatus, bad).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_reset_attachment_and_snapshot_statuses(cluster):
    user, admin = cluster.client("stuck2"), cluster.client("ops", admin=True)
    volume = user.create_available(1)
    held = user.call(user.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="i"))
    assert user.get(volume.id).status == volume_pb2.VOLUME_STATUS_RESERVED
    row = admin.call(admin.volumes.ResetAttachmentStatus, volume_pb2.ResetAttachmentStatusRequest(
        attachment_id=held.id, status=attachment_pb2.ATTACHMENT_STATUS_ERROR_ATTACHING))
    assert row.status == attachment_pb2.ATTACHMENT_STATUS_ERROR_ATTACHING
    assert user.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    user.call(user.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=held.id))

    snap = user.done(user.call(user.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(volume_id=volume.id)),
                     snapshot_pb2.Snapshot())
    reset = snapshot_pb2.ResetSnapshotStatusRequest(id=snap.id, status=snapshot_pb2.SNAPSHOT_STATUS_ERROR)
    assert fails(user.call, user.snapshots.ResetSnapshotStatus, reset).code() == grpc.StatusCode.PERMISSION_DENIED
    assert admin.call(admin.snapshots.ResetSnapshotStatus, reset).status == snapshot_pb2.SNAPSHOT_STATUS_ERROR
    got = user.call(user.snapshots.GetSnapshot, snapshot_pb2.GetSnapshotRequest(id=snap.id))
    assert got.status == snapshot_pb2.SNAPSHOT_STATUS_ERROR
    event = last_event(cluster, "snapshots", snap.id)
    assert (event["status"], event["admin_action"], event["by"]) == ("error", "reset_status", "tester@ops")

    # A snapshot in error can be deleted, and then is gone.
    gone = user.wait(user.call(user.snapshots.DeleteSnapshot, snapshot_pb2.DeleteSnapshotRequest(id=snap.id)))
    assert gone.done and not gone.HasField("error"), gone
    missing = fails(user.call, user.snapshots.GetSnapshot, snapshot_pb2.GetSnapshotRequest(id=snap.id))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert last_event(cluster, "snapshots", snap.id)["status"] == "deleted"


def test_force_delete_removes_a_stuck_volume_of_any_project(cluster):
    user, admin = cluster.client("stuck3"), cluster.client("ops", admin=True)
    volume = user.create_available(1)
    user.done(user.call(user.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(volume_id=volume.id)),
              snapshot_pb2.Snapshot())
    admin.call(admin.volumes.ResetVolumeStatus, volume_pb2.ResetVolumeStatusRequest(
        id=volume.id, status=volume_pb2.VOLUME_STATUS_EXTENDING))
    assert fails(user.delete, volume.id).code() == grpc.StatusCode.FAILED_PRECONDITION
    force = volume_pb2.ForceDeleteVolumeRequest(id=volume.id)
    assert fails(user.call, user.volumes.ForceDeleteVolume, force).code() == grpc.StatusCode.PERMISSION_DENIED
    done = admin.wait(admin.call(admin.volumes.ForceDeleteVolume, force))
    assert done.done and not done.HasField("error"), done
    assert fails(user.get, volume.id).code() == grpc.StatusCode.NOT_FOUND
    assert not list((cluster.root / "volumes" / "file" / "default").glob(f"*{volume.id}*"))
    assert last_event(cluster, "volumes", volume.id)["status"] == "deleted"


def watched(stream, then) -> list:
    """Every answer of a watch stream, with `then()` run once its first has
    come: a watch answers first when it already follows the events, so
    whatever `then` sets off cannot slip past it."""
    got = [next(stream)]
    then()
    return got + list(stream)


def test_watch_follows_a_volume_until_it_is_stable(fresh_cluster):
    c = fresh_cluster
    c.start_nats()
    c.start("volume")
    c.start("api_gateway")
    client = c.client()
    client.create(1)
    volume = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes[0]
    got = watched(client.volumes.WatchVolume(volume_pb2.WatchVolumeRequest(id=volume.id), metadata=client.metadata,
                                             timeout=60), lambda: c.start("scheduler"))
    assert [m.volume.status for m in got] == [volume_pb2.VOLUME_STATUS_CREATING, volume_pb2.VOLUME_STATUS_AVAILABLE]

    stable = list(client.volumes.WatchVolume(volume_pb2.WatchVolumeRequest(id=volume.id), metadata=client.metadata,
                                             timeout=30))
    assert [m.volume.status for m in stable] == [volume_pb2.VOLUME_STATUS_AVAILABLE]
    other = c.client("someone-else")
    error = fails(lambda: list(other.volumes.WatchVolume(volume_pb2.WatchVolumeRequest(id=volume.id),
                                                          metadata=other.metadata, timeout=30)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    anonymous = fails(lambda: list(client.volumes.WatchVolume(volume_pb2.WatchVolumeRequest(id=volume.id), timeout=30)))
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED


def test_watch_ends_with_deleted_when_a_snapshot_goes(fresh_cluster):
    c = fresh_cluster
    host_a = c.start_two_hosts()
    client = c.client()
    volume = client.create_available(1)
    snap = client.done(client.call(client.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
        volume_id=volume.id)), snapshot_pb2.Snapshot())
    watch = snapshot_pb2.WatchSnapshotRequest(id=snap.id)
    assert [m.snapshot.status for m in client.snapshots.WatchSnapshot(watch, metadata=client.metadata, timeout=30)] \
        == [snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE]
    host_a.stop()
    # host-b takes the call; the task waits for host-a.
    client.call(client.snapshots.DeleteSnapshot, snapshot_pb2.DeleteSnapshotRequest(id=snap.id))
    got = watched(client.snapshots.WatchSnapshot(watch, metadata=client.metadata, timeout=60),
                  lambda: c.start("volume"))
    assert [m.snapshot.status for m in got[:1]] == [snapshot_pb2.SNAPSHOT_STATUS_DELETING]
    assert got[-1].deleted and len(got) == 2
