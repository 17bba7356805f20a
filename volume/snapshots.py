"""Snapshots in the database: taking one (the volume's host copies the data),
deleting one, and reading and renaming them. Each public function is one
transaction, callable without a network."""

from __future__ import annotations

import uuid

from ember import lookup, operations, pagination, quota, replay, states, subjects, validation
from ember.auth import Identity
from ember.db import Snapshot, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition
from ember.outbox import Task
from ember.pool_names import host_of
from ember.started import Started
from ember.volume_tasks import snapshot_cas
from ember.volumes import get_volume
from volume.manager import counted_snapshot


def get(identity: Identity, snapshot_id: str) -> Snapshot:
    return lookup.get(Snapshot, snapshot_id, identity.project_id)


def list_snapshots(identity: Identity, volume_id: str, size: int, token: str, secret: bytes):
    query = Snapshot.select().where(Snapshot.project_id == identity.project_id)
    if volume_id:
        query = query.where(Snapshot.volume == volume_id)
    return pagination.keyset_page(query, Snapshot, "snapshots", size, token, secret)


def create(
    identity: Identity, volume_id: str, fields: dict, force: bool, request_id: str, limits: dict[str, int],
    retry_after: float,
) -> Started:
    with replay.once(identity, "CreateSnapshot", request_id) as earlier:
        if earlier:
            return earlier
        volume = get_volume(identity, volume_id)
        allowed = (states.AVAILABLE, states.IN_USE) if force else (states.AVAILABLE,)
        if volume.status not in allowed:
            hint = "" if force or volume.status != states.IN_USE else "; pass force to snapshot an in-use volume"
            raise FailedPrecondition(
                f"volume {volume_id} is {volume.status}; snapshots are taken of available volumes{hint}",
                "VOLUME_STATUS_INVALID", {"volume_id": volume_id, "status": volume.status},
            )
        held = counted_snapshot(volume.size_gb)
        quota.reserve(identity.project_id, held, quota.limits(identity.project_id, limits))
        snapshot = Snapshot.create(
            id=str(uuid.uuid4()), volume=volume.id, project_id=identity.project_id, user_id=identity.user_id,
            size_gb=volume.size_gb, status=states.CREATING, **fields,
        )
        op_id = operations.new_id()
        payload = {
            "verb": "snapshot", "operation_id": op_id, "snapshot_id": snapshot.id, "volume_id": volume.id,
            "pool": volume.host, "project_id": identity.project_id, "quota": held,
        }
        task = Task(subjects.volume_task(host_of(volume.host), "snapshot"), op_id, payload)
        return Started(operations.new(identity, "CreateSnapshot", snapshot.id, request_id, op_id, task, retry_after), task)


def in_use_as_source(snapshot_id: str) -> int:
    """Volumes still being made from the snapshot."""
    return Volume.select().where(Volume.source_snapshot_id == snapshot_id, Volume.status == states.CREATING).count()


def delete(identity: Identity, snapshot_id: str, request_id: str, retry_after: float) -> Started:
    with replay.once(identity, "DeleteSnapshot", request_id) as earlier:
        if earlier:
            return earlier
        snapshot = get(identity, snapshot_id)
        return delete_task(identity, snapshot, request_id, retry_after)


def delete_task(identity: Identity, snapshot: Snapshot, request_id: str | None, retry_after: float) -> Started:
    """Moves the snapshot to deleting and queues the host's task; inside the caller's transaction."""
    if snapshot.status not in states.SNAPSHOT_DELETABLE:
        raise FailedPrecondition(
            f"snapshot {snapshot.id} is {snapshot.status}; only snapshots that are "
            f"{', '.join(sorted(states.SNAPSHOT_DELETABLE))} can be deleted",
            "SNAPSHOT_STATUS_INVALID", {"snapshot_id": snapshot.id, "status": snapshot.status},
        )
    making = in_use_as_source(snapshot.id)
    if making:
        raise FailedPrecondition(
            f"snapshot {snapshot.id} is the source of {making} volume(s) being created; wait for them",
            "SNAPSHOT_IN_USE", {"snapshot_id": snapshot.id, "status": snapshot.status},
        )
    if not snapshot_cas(snapshot.id, snapshot.status, states.DELETING):
        raise FailedPrecondition(f"snapshot {snapshot.id} changed meanwhile; try again", "SNAPSHOT_CHANGED")
    volume = Volume.get_by_id(snapshot.volume_id)
    op_id = operations.new_id()
    payload = {
        "verb": "delete_snapshot", "operation_id": op_id, "snapshot_id": snapshot.id, "volume_id": volume.id,
        "pool": volume.host,
    }
    task = Task(subjects.volume_task(host_of(volume.host), "delete_snapshot"), op_id, payload)
    return Started(operations.new(identity, "DeleteSnapshot", snapshot.id, request_id, op_id, task, retry_after), task)


def finish_create(operation_id: str, snapshot_id: str, response) -> bool:
    with write_transaction():
        if not snapshot_cas(snapshot_id, states.CREATING, states.AVAILABLE, status_detail=""):
            return False
        operations.finish(operation_id, response=response(Snapshot.get_by_id(snapshot_id)))
        return True


def finish_delete(operation_id: str, snapshot_id: str, response) -> bool:
    with write_transaction():
        snapshot = Snapshot.get_or_none(Snapshot.id == snapshot_id, Snapshot.status == states.DELETING)
        if snapshot is None:
            return False
        operations.finish(operation_id, response=response(snapshot))
        snapshot.delete_instance()
        quota.release(snapshot.project_id, counted_snapshot(snapshot.size_gb))
        return True


def update(identity: Identity, snapshot_id: str, fields: dict, metadata_keys: dict[str, str | None]) -> Snapshot:
    with write_transaction():
        snapshot = get(identity, snapshot_id)
        if metadata_keys:
            fields["metadata"] = validation.merged(fields.get("metadata", snapshot.metadata), metadata_keys)
        Snapshot.update(updated_at=utcnow(), **fields).where(Snapshot.id == snapshot.id).execute()
        return Snapshot.get_by_id(snapshot.id)


def reset_status(snapshot_id: str, status: str) -> Snapshot:
    """Admin: the given status, whatever the snapshot's was."""
    with write_transaction():
        lookup.get(Snapshot, snapshot_id)
        Snapshot.update(status=status, status_detail="", updated_at=utcnow()).where(Snapshot.id == snapshot_id).execute()
        return Snapshot.get_by_id(snapshot_id)
