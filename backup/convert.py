"""Backup rows as ember.v1.Backup messages."""

from __future__ import annotations

from ember import messages
from ember.db import Backup
from ember.v1 import backup_pb2

STATUS = {
    "creating": backup_pb2.BACKUP_STATUS_CREATING,
    "available": backup_pb2.BACKUP_STATUS_AVAILABLE,
    "restoring": backup_pb2.BACKUP_STATUS_RESTORING,
    "deleting": backup_pb2.BACKUP_STATUS_DELETING,
    "error": backup_pb2.BACKUP_STATUS_ERROR,
    "error_deleting": backup_pb2.BACKUP_STATUS_ERROR_DELETING,
}


def to_proto(row: Backup) -> backup_pb2.Backup:
    return backup_pb2.Backup(
        id=row.id, volume_id=row.volume_id, name=row.name, description=row.description, status=STATUS[row.status],
        status_detail=row.status_detail, size_gb=row.size_gb, incremental=row.incremental, parent_id=row.parent_id,
        project_id=row.project_id, metadata=row.metadata or {}, data_bytes=row.data_bytes,
        stored_bytes=row.stored_bytes, chunk_count=row.chunk_count, created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
    )
