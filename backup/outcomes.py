"""How backup tasks end well: one transaction each that moves the backup
and its volume to their final statuses and finishes the operation with
its response. Each returns False (changing nothing) when the task had
already ended, so a redelivered task cannot finish twice."""

from __future__ import annotations

from ember import operations, quota, states
from ember.db import Backup, Volume, write_transaction
from ember.v1 import backup_pb2
from ember.volume_messages import to_proto as volume_to_proto
from ember.volume_tasks import backup_cas
from backup import convert, records


def backup_done(operation_id: str, payload: dict, data_bytes: int, stored_bytes: int, chunk_count: int) -> bool:
    backup_id = payload["backup_id"]
    with write_transaction():
        if not backup_cas(backup_id, states.CREATING, states.AVAILABLE, status_detail="", data_bytes=data_bytes,
                          stored_bytes=stored_bytes, chunk_count=chunk_count):
            return False
        if payload.get("previous_status"):
            states.cas_status(payload["volume_id"], [states.BACKING_UP], payload["previous_status"])
        response = convert.to_proto(Backup.get_by_id(backup_id)).SerializeToString()
        return operations.finish(operation_id, response=response)


def restore_done(operation_id: str, payload: dict, volume_metadata: dict[str, str]) -> bool:
    """The target also gets the backed-up volume's metadata back (over its
    own keys of the same names)."""
    volume_id = payload["volume_id"]
    with write_transaction():
        metadata = {**Volume.get_by_id(volume_id).metadata, **volume_metadata}
        if not states.cas_status(volume_id, [states.RESTORING_BACKUP], states.AVAILABLE, status_detail="",
                                 metadata=metadata):
            return False
        backup_cas(payload["backup_id"], states.RESTORING, states.AVAILABLE)
        return operations.finish(operation_id, response=volume_to_proto(Volume.get_by_id(volume_id)).SerializeToString())


def delete_done(operation_id: str, backup_id: str) -> bool:
    """The row goes and the backup's quota comes back."""
    with write_transaction():
        backup = Backup.get_or_none(Backup.id == backup_id, Backup.status == states.DELETING)
        if backup is None or not operations.finish(operation_id,
                                                   response=convert.to_proto(backup).SerializeToString()):
            return False
        quota.release(backup.project_id, records.counted(backup.size_gb))
        backup.delete_instance()
        return True


def verify_done(operation_id: str, backup_id: str, chunks: int, data_bytes: int) -> bool:
    verification = backup_pb2.BackupVerification(backup_id=backup_id, chunks_checked=chunks, bytes_checked=data_bytes)
    with write_transaction():
        return operations.finish(operation_id, response=verification.SerializeToString())
