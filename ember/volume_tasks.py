"""How a task on a volume, snapshot or backup fails, shared by the scheduler
(no valid backend, no room to extend), the volume host (driver failure),
the backup service (repository or data trouble) and the reconciler
(deadline): one transaction fails the operation, puts each resource it
touched in its error status (or back where it was) and gives back the quota
the task held; then the event."""

from __future__ import annotations

from ember import events, operations, quota, states, writer
from ember.db import Backup, Snapshot, utcnow, write_transaction
from ember.errors import EmberError

RESOURCE = "volumes"
SNAPSHOTS = "snapshots"
BACKUPS = "backups"
ATTACHMENTS = "attachments"
# verb -> (status while the task runs, status when it fails)
VOLUME_FAILURES = {
    "create": (states.CREATING, states.ERROR),
    "delete": (states.DELETING, states.ERROR_DELETING),
    "extend": (states.EXTENDING, states.ERROR_EXTENDING),
}
SNAPSHOT_FAILURES = {"snapshot": (states.CREATING, states.ERROR), "delete_snapshot": (states.DELETING, states.ERROR_DELETING)}
BACKUP_VERBS = ("backup", "restore", "delete_backup", "verify_backup")


def snapshot_cas(snapshot_id: str, expected: str, new: str, **fields) -> bool:
    states.check(expected, new, states.SNAPSHOT_TRANSITIONS, "snapshot")
    return bool(
        Snapshot.update(status=new, updated_at=utcnow(), **fields)
        .where(Snapshot.id == snapshot_id, Snapshot.status == expected)
        .execute()
    )


def backup_cas(backup_id: str, expected: str, new: str, **fields) -> bool:
    states.check(expected, new, states.BACKUP_TRANSITIONS, "backup")
    return bool(
        Backup.update(status=new, updated_at=utcnow(), **fields)
        .where(Backup.id == backup_id, Backup.status == expected)
        .execute()
    )


def _fail_backup_task(verb: str, payload: dict, error: EmberError) -> tuple[str, str, str]:
    backup_id = payload["backup_id"]
    if verb == "backup":
        backup_cas(backup_id, states.CREATING, states.ERROR, status_detail=error.message)
        if payload.get("previous_status"):
            states.cas_status(payload["volume_id"], [states.BACKING_UP], payload["previous_status"])
        return BACKUPS, backup_id, states.ERROR
    if verb == "restore":
        backup_cas(backup_id, states.RESTORING, states.AVAILABLE)
        states.cas_status(payload["volume_id"], [states.RESTORING_BACKUP], states.ERROR_RESTORING,
                          status_detail=error.message)
        return RESOURCE, payload["volume_id"], states.ERROR_RESTORING
    if verb == "delete_backup":
        backup_cas(backup_id, states.DELETING, states.ERROR_DELETING, status_detail=error.message)
        return BACKUPS, backup_id, states.ERROR_DELETING
    return BACKUPS, backup_id, states.AVAILABLE


def _fail(operation_id: str, payload: dict, error: EmberError, back: bool) -> tuple[str, str, str] | None:
    verb = payload["verb"]
    with write_transaction():
        if not operations.finish(operation_id, error=error):
            return None
        if payload.get("quota"):
            quota.release(payload["project_id"], payload["quota"])
        if verb in BACKUP_VERBS:
            return _fail_backup_task(verb, payload, error)
        if payload.get("restore_backup_id"):
            # A new volume for a restore could not be made: the backup is free again.
            backup_cas(payload["restore_backup_id"], states.RESTORING, states.AVAILABLE)
        if verb in SNAPSHOT_FAILURES:
            running, failed = SNAPSHOT_FAILURES[verb]
            snapshot_cas(payload["snapshot_id"], running, failed, status_detail=error.message)
            return SNAPSHOTS, payload["snapshot_id"], failed
        running, failed = VOLUME_FAILURES[verb]
        if back:
            failed = payload["previous_status"]
        states.cas_status(payload["volume_id"], [running], failed, status_detail=error.message)
        return RESOURCE, payload["volume_id"], failed


async def fail(bus, operation_id: str, payload: dict, error: EmberError, back: bool = False) -> None:
    """Ends the operation with `error` and its resource in the verb's error
    status (or, with `back`, in the status it had before), unless the
    operation had already ended."""
    changed = await writer.run(_fail, operation_id, payload, error, back)
    if changed:
        await events.announce(bus, *changed, operation_id)
