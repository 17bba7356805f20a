"""Volume rows as ember.v1.Volume messages."""

from __future__ import annotations

from ember import messages
from ember.db import Volume
from ember.v1 import volume_pb2

STATUS = {
    "creating": volume_pb2.VOLUME_STATUS_CREATING,
    "available": volume_pb2.VOLUME_STATUS_AVAILABLE,
    "deleting": volume_pb2.VOLUME_STATUS_DELETING,
    "error": volume_pb2.VOLUME_STATUS_ERROR,
    "error_deleting": volume_pb2.VOLUME_STATUS_ERROR_DELETING,
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
        created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
    )
