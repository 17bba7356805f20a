"""Volume, attachment and snapshot rows as ember.v1 messages: what the volume
service answers with, and the volume a restore finishes with."""

from __future__ import annotations

from ember import messages
from ember.db import Attachment, Snapshot, Volume
from ember.v1 import attachment_pb2, snapshot_pb2, volume_pb2

STATUS = {
    "creating": volume_pb2.VOLUME_STATUS_CREATING,
    "available": volume_pb2.VOLUME_STATUS_AVAILABLE,
    "deleting": volume_pb2.VOLUME_STATUS_DELETING,
    "error": volume_pb2.VOLUME_STATUS_ERROR,
    "error_deleting": volume_pb2.VOLUME_STATUS_ERROR_DELETING,
    "reserved": volume_pb2.VOLUME_STATUS_RESERVED,
    "attaching": volume_pb2.VOLUME_STATUS_ATTACHING,
    "in-use": volume_pb2.VOLUME_STATUS_IN_USE,
    "detaching": volume_pb2.VOLUME_STATUS_DETACHING,
    "extending": volume_pb2.VOLUME_STATUS_EXTENDING,
    "error_extending": volume_pb2.VOLUME_STATUS_ERROR_EXTENDING,
    "backing-up": volume_pb2.VOLUME_STATUS_BACKING_UP,
    "restoring-backup": volume_pb2.VOLUME_STATUS_RESTORING_BACKUP,
    "error_restoring": volume_pb2.VOLUME_STATUS_ERROR_RESTORING,
}


def to_proto(row: Volume) -> volume_pb2.Volume:
    return volume_pb2.Volume(
        id=row.id,
        name=row.name,
        description=row.description,
        size_gb=row.size_gb,
        status=STATUS[row.status],
        status_detail=row.status_detail,
        project_id=row.project_id,
        user_id=row.user_id,
        host=row.host,
        metadata=row.metadata or {},
        volume_type=row.volume_type_name,
        availability_zone=row.availability_zone,
        multiattach=row.multiattach,
        source_snapshot_id=row.source_snapshot_id,
        source_volume_id=row.source_volume_id,
        created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
    )


ATTACHMENT_STATUS = {
    "reserved": attachment_pb2.ATTACHMENT_STATUS_RESERVED,
    "attaching": attachment_pb2.ATTACHMENT_STATUS_ATTACHING,
    "attached": attachment_pb2.ATTACHMENT_STATUS_ATTACHED,
    "detaching": attachment_pb2.ATTACHMENT_STATUS_DETACHING,
    "error_attaching": attachment_pb2.ATTACHMENT_STATUS_ERROR_ATTACHING,
}
MODES = {"rw": attachment_pb2.ATTACH_MODE_RW, "ro": attachment_pb2.ATTACH_MODE_RO}


def attachment_to_proto(row: Attachment) -> attachment_pb2.Attachment:
    info = row.connection_info or {}
    return attachment_pb2.Attachment(
        id=row.id,
        volume_id=row.volume_id,
        instance_id=row.instance_id,
        status=ATTACHMENT_STATUS[row.status],
        mode=MODES[row.mode],
        connector=attachment_pb2.Connector(**row.connector) if row.connector else None,
        connection_info=attachment_pb2.ConnectionInfo(**info) if info else None,
        status_detail=row.status_detail,
        project_id=row.project_id,
        created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
        attached_at=messages.timestamp(row.attached_at),
        export_failed_at=messages.timestamp(row.export_failed_at),
    )


SNAPSHOT_STATUS = {
    "creating": snapshot_pb2.SNAPSHOT_STATUS_CREATING,
    "available": snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE,
    "deleting": snapshot_pb2.SNAPSHOT_STATUS_DELETING,
    "error": snapshot_pb2.SNAPSHOT_STATUS_ERROR,
    "error_deleting": snapshot_pb2.SNAPSHOT_STATUS_ERROR_DELETING,
}


def snapshot_to_proto(row: Snapshot) -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        id=row.id,
        volume_id=row.volume_id,
        name=row.name,
        description=row.description,
        size_gb=row.size_gb,
        status=SNAPSHOT_STATUS[row.status],
        status_detail=row.status_detail,
        project_id=row.project_id,
        metadata=row.metadata or {},
        created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
    )
