"""Backups in the database: starting a backup, a restore, a verify or a
delete (each one transaction that queues the backup service's task), and
reading, renaming, exporting and importing records."""

from __future__ import annotations

import base64
import json
import uuid

from ember import lookup, operations, pagination, quota, replay, states, subjects, validation, volumes
from ember.auth import Identity
from ember.db import Backup, utcnow, write_transaction
from ember.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from ember.outbox import Task
from ember.started import Started
from ember.volume_tasks import backup_cas

RECORD_SERVICE = "ember"


def counted(size_gb: int) -> dict[str, int]:
    return {"backups": 1, "backup_gigabytes": size_gb}


def _task(verb: str, op_id: str, payload: dict, msg_id: str = "") -> Task:
    return Task(subjects.backup_task(verb), msg_id or op_id, dict(payload, verb=verb, operation_id=op_id))


def get(identity: Identity, backup_id: str) -> Backup:
    return lookup.get(Backup, backup_id, identity.project_id)


def list_backups(identity: Identity, volume_id: str, size: int, token: str, secret: bytes):
    query = Backup.select().where(Backup.project_id == identity.project_id)
    if volume_id:
        query = query.where(Backup.volume_id == volume_id)
    return pagination.keyset_page(query, Backup, "backups", size, token, secret)


def _refuse(kind: str, row, message: str, reason: str) -> FailedPrecondition:
    return FailedPrecondition(f"{kind} {row.id} is {row.status}; {message}", reason, {f"{kind}_id": row.id,
                                                                                      "status": row.status})


def create(
    identity: Identity, volume_id: str, fields: dict, incremental: bool, force: bool, request_id: str,
    limits: dict[str, int], retry_after: float,
) -> Started:
    with replay.once(identity, "CreateBackup", request_id) as earlier:
        if earlier:
            return earlier
        volume = volumes.get_volume(identity, volume_id)
        from_snapshot = volume.status == states.IN_USE and force
        if volume.status != states.AVAILABLE and not from_snapshot:
            hint = "; pass force to back up an in-use volume" if volume.status == states.IN_USE else ""
            raise _refuse("volume", volume, f"backups are taken of available volumes{hint}", "VOLUME_STATUS_INVALID")
        parent = ""
        if incremental:
            newest = (Backup.select().where(Backup.volume_id == volume.id, Backup.status == states.AVAILABLE)
                      .order_by(Backup.created_at.desc()).first())
            if newest is None:
                raise FailedPrecondition(
                    f"volume {volume.id} has no available backup to follow; make a full backup first",
                    "NO_PARENT_BACKUP", {"volume_id": volume.id},
                )
            parent = newest.id
        # The row holds this until it is deleted, in error too (as in
        # Cinder), so the count matches the backups the project lists.
        quota.reserve(identity.project_id, counted(volume.size_gb), quota.limits(identity.project_id, limits))
        backup = Backup.create(
            id=str(uuid.uuid4()), volume_id=volume.id, project_id=identity.project_id, user_id=identity.user_id,
            status=states.CREATING, size_gb=volume.size_gb, incremental=incremental, parent_id=parent, **fields,
        )
        if not from_snapshot:
            states.cas_status(volume.id, [states.AVAILABLE], states.BACKING_UP, previous_status=states.AVAILABLE)
        op_id = operations.new_id()
        task = _task("backup", op_id, {
            "backup_id": backup.id, "volume_id": volume.id, "snapshot": from_snapshot,
            "previous_status": None if from_snapshot else states.AVAILABLE,
        })
        return Started(operations.new(identity, "CreateBackup", backup.id, request_id, op_id, task,
                                      retry_after), task)


def delete(identity: Identity, backup_id: str, request_id: str, retry_after: float) -> Started:
    with replay.once(identity, "DeleteBackup", request_id) as earlier:
        if earlier:
            return earlier
        backup = get(identity, backup_id)
        if backup.status not in states.BACKUP_DELETABLE:
            raise _refuse("backup", backup, "only backups that are "
                          f"{', '.join(sorted(states.BACKUP_DELETABLE))} can be deleted", "BACKUP_STATUS_INVALID")
        backup_cas(backup.id, backup.status, states.DELETING)
        op_id = operations.new_id()
        task = _task("delete_backup", op_id, {"backup_id": backup.id})
        return Started(operations.new(identity, "DeleteBackup", backup.id, request_id, op_id, task,
                                      retry_after), task)


def restore(
    identity: Identity, backup_id: str, volume_id: str, new: volumes.NewVolume, limits: dict[str, int],
    retry_after: float,
) -> Started:
    with replay.once(identity, "RestoreBackup", new.request_id) as earlier:
        if earlier:
            return earlier
        backup = get(identity, backup_id)
        if backup.status != states.AVAILABLE:
            raise _refuse("backup", backup, "restores are made from available backups", "BACKUP_STATUS_INVALID")
        backup_cas(backup.id, states.AVAILABLE, states.RESTORING)
        op_id = operations.new_id()
        payload = {"backup_id": backup.id, "restore_backup_id": backup.id}
        if not volume_id:
            size = max(new.size_gb, backup.size_gb)
            # Its own message id: JetStream would drop it as a duplicate of the create.
            then = _task("restore", op_id, dict(payload, new_volume=True), msg_id=f"{op_id}.restore")
            return volumes.create_volume(
                identity, volumes.NewVolume(**{**new.__dict__, "size_gb": size}), limits, retry_after,
                verb="RestoreBackup", op_id=op_id, then={"status": states.RESTORING_BACKUP, "task": then},
            )
        volume = volumes.get_volume(identity, volume_id)
        if volume.status != states.AVAILABLE:
            raise _refuse("volume", volume, "restores go onto available volumes", "VOLUME_STATUS_INVALID")
        if volume.size_gb < backup.size_gb:
            raise InvalidArgument("volume_id", f"volume {volume.id} has {volume.size_gb} GiB; the backup needs "
                                               f"{backup.size_gb} GiB")
        states.cas_status(volume.id, [states.AVAILABLE], states.RESTORING_BACKUP, previous_status=states.AVAILABLE)
        task = _task("restore", op_id, dict(payload, volume_id=volume.id, new_volume=False))
        return Started(operations.new(identity, "RestoreBackup", volume.id, new.request_id, op_id, task,
                                      retry_after), task)


def verify(identity: Identity, backup_id: str, retry_after: float) -> Started:
    with write_transaction():
        backup = get(identity, backup_id)
        if backup.status not in (states.AVAILABLE, states.RESTORING):
            raise _refuse("backup", backup, "only available backups can be verified", "BACKUP_STATUS_INVALID")
        op_id = operations.new_id()
        task = _task("verify_backup", op_id, {"backup_id": backup.id})
        return Started(operations.new(identity, "VerifyBackup", backup.id, None, op_id, task,
                                      retry_after), task)


def update(identity: Identity, backup_id: str, fields: dict, metadata_keys: dict[str, str | None]) -> Backup:
    with write_transaction():
        backup = get(identity, backup_id)
        if metadata_keys:
            fields["metadata"] = validation.merged(fields.get("metadata", backup.metadata), metadata_keys)
        Backup.update(updated_at=utcnow(), **fields).where(Backup.id == backup.id).execute()
        return Backup.get_by_id(backup.id)


RECORD_FIELDS = ("id", "volume_id", "name", "description", "size_gb", "incremental", "parent_id", "metadata",
                 "data_bytes", "stored_bytes", "chunk_count")


def export_record(identity: Identity, backup_id: str) -> str:
    backup = get(identity, backup_id)
    if backup.status != states.AVAILABLE:
        raise _refuse("backup", backup, "only available backups can be exported", "BACKUP_STATUS_INVALID")
    record = {field: getattr(backup, field) for field in RECORD_FIELDS}
    return base64.urlsafe_b64encode(json.dumps(record, sort_keys=True).encode()).decode()


def import_record(identity: Identity, backup_url: str, manifest_exists, limits: dict[str, int]) -> Backup:
    try:
        record = json.loads(base64.urlsafe_b64decode(backup_url.encode()))
        fields = {field: record[field] for field in RECORD_FIELDS}
        uuid.UUID(fields["id"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("backup_url", "not a backup record from ExportBackupRecord")
    if not manifest_exists(fields["id"]):
        raise FailedPrecondition(
            f"backup {fields['id']} has no manifest in this Ember's repository; point both at the same repository",
            "MANIFEST_MISSING", {"backup_id": fields["id"]},
        )
    with write_transaction():
        if Backup.get_or_none(Backup.id == fields["id"]):
            raise AlreadyExists(f"backup {fields['id']} is already known here", "BACKUP_EXISTS",
                                {"backup_id": fields["id"]})
        quota.reserve(identity.project_id, counted(fields["size_gb"]), quota.limits(identity.project_id, limits))
        return Backup.create(project_id=identity.project_id, user_id=identity.user_id, status=states.AVAILABLE,
                             **fields)
