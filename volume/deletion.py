"""Deleting volumes: the owner's delete (refused while attached, while the
volume has snapshots unless cascade, or while a clone copies it) and the
admin's force-delete (any status, any project). Each is one transaction
that queues the storage host's task."""

from __future__ import annotations

import grpc

from ember import lookup, operations, replay, states, subjects
from ember.auth import Identity
from ember.db import Attachment, Operation, Snapshot, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition
from ember.outbox import Task
from ember.pool_names import host_of
from ember.started import Started
from ember.volume_messages import to_proto
from ember.volumes import get_volume
from volume.manager import remove_volume


def _refuse(volume: Volume, message: str, reason: str, **extra) -> FailedPrecondition:
    return FailedPrecondition(
        f"volume {volume.id} {message}", reason, {"volume_id": volume.id, "status": volume.status, **extra}
    )


def _check_free(volume: Volume) -> None:
    """What even an admin's force-delete may not break."""
    attached = Attachment.select().where(Attachment.volume == volume.id).count()
    if attached:
        raise _refuse(volume, f"has {attached} attachment(s); delete them (detach) first", "VOLUME_ATTACHED",
                      attachments=attached)
    cloning = Volume.select().where(Volume.source_volume_id == volume.id, Volume.status == states.CREATING).count()
    if cloning:
        raise _refuse(volume, f"is being copied into {cloning} new volume(s); wait for them", "VOLUME_BEING_COPIED")


def delete_volume(identity: Identity, volume_id: str, request_id: str, cascade: bool, retry_after: float) -> Started:
    with replay.once(identity, "DeleteVolume", request_id) as earlier:
        if earlier:
            return earlier
        volume = get_volume(identity, volume_id)
        _check_free(volume)
        if volume.status not in states.DELETABLE:
            raise _refuse(
                volume, f"is {volume.status}; only volumes that are {', '.join(sorted(states.DELETABLE))} can be deleted",
                "VOLUME_STATUS_INVALID",
            )
        snapshots = list(Snapshot.select().where(Snapshot.volume == volume.id))
        if snapshots and not cascade:
            raise _refuse(volume, f"has {len(snapshots)} snapshot(s); delete them first or pass cascade",
                          "VOLUME_HAS_SNAPSHOTS", snapshots=len(snapshots))
        busy = [s.id for s in snapshots if s.status not in states.SNAPSHOT_DELETABLE]
        if busy:
            raise _refuse(volume, f"has snapshots in progress ({', '.join(busy)}); wait for them",
                          "SNAPSHOT_STATUS_INVALID")
        states.cas_status(volume.id, [volume.status], states.DELETING)
        return _queue(identity, volume, snapshots, request_id, retry_after, "DeleteVolume")


def force_delete(identity: Identity, volume_id: str, retry_after: float) -> Started:
    """Admin: whatever the volume's status (and its snapshots'), in any project."""
    with write_transaction():
        volume = lookup.get(Volume, volume_id)
        _check_free(volume)
        # A task still running for the volume finds it deleting and stands down.
        Operation.update(done=True, end_time=utcnow(), publish_after=None, error_code=grpc.StatusCode.ABORTED.value[0],
                         error_reason="FORCE_DELETED", error_message="the volume was force-deleted").where(
            Operation.target == volume.id, Operation.done == False  # noqa: E712
        ).execute()
        Volume.update(status=states.DELETING, updated_at=utcnow()).where(Volume.id == volume.id).execute()
        snapshots = list(Snapshot.select().where(Snapshot.volume == volume.id))
        return _queue(identity, Volume.get_by_id(volume.id), snapshots, None, retry_after, "ForceDeleteVolume")


def _queue(identity: Identity, volume: Volume, snapshots: list[Snapshot], request_id, retry_after, verb) -> Started:
    Snapshot.update(status=states.DELETING, updated_at=utcnow()).where(
        Snapshot.id.in_([s.id for s in snapshots])
    ).execute()
    if not volume.host:
        # Never placed: no backend holds any data, so the rows can go now.
        op = operations.new(identity, verb, volume.id, request_id)
        operations.finish(op.id, response=to_proto(Volume.get_by_id(volume.id)).SerializeToString())
        remove_volume(volume)
        return Started(Operation.get_by_id(op.id), None, "deleted")
    op_id = operations.new_id()
    payload = {"verb": "delete", "operation_id": op_id, "volume_id": volume.id, "pool": volume.host,
               "snapshots": [s.id for s in snapshots]}
    task = Task(subjects.volume_task(host_of(volume.host), "delete"), op_id, payload)
    return Started(operations.new(identity, verb, volume.id, request_id, op_id, task, retry_after), task)
