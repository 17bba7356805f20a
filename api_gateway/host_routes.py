"""Calls that need the volume's own storage host (its driver exports or
unexports the volume) go to that host's volume service: the storage host is
looked up from the id in the request."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from ember import pool_names
from ember.db import Attachment, Snapshot, Volume
from ember.prepared import Param, Prepared
from ember.v1 import attachment_pb2, snapshot_pb2, volume_pb2

_VOLUME_HOST = Prepared(lambda: Volume.select(Volume.host).where(Volume.id == Param("id")))
_ATTACHMENT_HOST = Prepared(lambda: Attachment.select(Attachment.host).where(Attachment.id == Param("id")))
_SNAPSHOT_HOST = Prepared(
    lambda: Volume.select(Volume.host).join(Snapshot).where(Snapshot.id == Param("id")))

# method -> (request message, field holding the id, what the id names)
HOST_ROUTED = {
    "/ember.v1.VolumeService/CreateAttachment": (attachment_pb2.CreateAttachmentRequest, "volume_id", _VOLUME_HOST),
    "/ember.v1.VolumeService/UpdateAttachment": (attachment_pb2.UpdateAttachmentRequest, "attachment_id", _ATTACHMENT_HOST),
    # Its host brings back an export that died before it completes.
    "/ember.v1.VolumeService/CompleteAttachment": (
        attachment_pb2.CompleteAttachmentRequest, "attachment_id", _ATTACHMENT_HOST),
    "/ember.v1.VolumeService/DeleteAttachment": (attachment_pb2.DeleteAttachmentRequest, "attachment_id", _ATTACHMENT_HOST),
    "/ember.v1.VolumeService/ForceDetach": (attachment_pb2.ForceDetachRequest, "attachment_id", _ATTACHMENT_HOST),
    # These start a task on the volume's host, whose queue only that host's
    # NATS user may publish to (docs/security.md).
    "/ember.v1.VolumeService/DeleteVolume": (volume_pb2.DeleteVolumeRequest, "id", _VOLUME_HOST),
    "/ember.v1.VolumeService/ForceDeleteVolume": (volume_pb2.ForceDeleteVolumeRequest, "id", _VOLUME_HOST),
    "/ember.v1.SnapshotService/CreateSnapshot": (snapshot_pb2.CreateSnapshotRequest, "volume_id", _VOLUME_HOST),
    "/ember.v1.SnapshotService/DeleteSnapshot": (snapshot_pb2.DeleteSnapshotRequest, "id", _SNAPSHOT_HOST),
}
# Served by any instance while the host is away: the record changes, and the
# host drops (or checks) the export, or publishes the task, when it returns.
ANY_HOST_WHEN_DOWN = {
    "/ember.v1.VolumeService/ForceDetach", "/ember.v1.VolumeService/CompleteAttachment",
    "/ember.v1.VolumeService/DeleteVolume", "/ember.v1.VolumeService/ForceDeleteVolume",
    "/ember.v1.SnapshotService/CreateSnapshot", "/ember.v1.SnapshotService/DeleteSnapshot",
}


def storage_host(method: str, request: bytes) -> str:
    """The storage host a call must reach, or '' when any instance will do
    (including ids that name nothing: any instance answers NOT_FOUND)."""
    route = HOST_ROUTED.get(method)
    if route is None:
        return ""
    message_type, field, lookup = route
    try:
        resource_id = getattr(message_type.FromString(request), field)
    except DecodeError:
        return ""
    row = lookup.first(id=resource_id) if resource_id else None
    return pool_names.host_of(row.host) if row is not None else ""
