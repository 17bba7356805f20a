"""What the VolumeService API does to the database: each public function is one
transaction, callable from tests without a network."""

from __future__ import annotations

import dataclasses
import uuid

from ember import operations, pagination, quota, states, subjects
from ember.auth import Identity
from ember.db import Operation, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition, NotFound
from ember.outbox import Task
from ember.prepared import Param, Prepared, PreparedInsert
from volume.convert import to_proto


_INSERT = PreparedInsert(Volume)
_GET = Prepared(lambda: Volume.select().where(Volume.id == Param("id"), Volume.project_id == Param("project")))


@dataclasses.dataclass
class Started:
    """An operation, and the task to publish for it once committed (None when
    the operation was a replay or finished at once, with `finished_status`)."""

    operation: Operation
    task: Task | None
    finished_status: str | None = None


def host_of(pool_name: str) -> str:
    return pool_name.partition("@")[0]


def counted(size_gb: int) -> dict[str, int]:
    """What one volume of this size counts against its project's quotas."""
    return {"volumes": 1, "gigabytes": size_gb}


def create_volume(
    identity: Identity, size_gb: int, name: str, description: str, metadata: dict, request_id: str,
    limits: dict[str, int], retry_after: float,
) -> Started:
    with write_transaction():
        replay = operations.find_by_request(identity, "CreateVolume", request_id)
        if replay:
            return Started(replay, None)
        quota.reserve(identity.project_id, counted(size_gb), limits)
        volume_id, op_id = str(uuid.uuid4()), operations.new_id()
        _INSERT.execute(
            id=volume_id,
            project_id=identity.project_id,
            user_id=identity.user_id,
            name=name,
            description=description,
            size_gb=size_gb,
            metadata=metadata,
            status=states.CREATING,
        )
        payload = {"verb": "create", "operation_id": op_id, "volume_id": volume_id, "size_gb": size_gb, "tried": []}
        task = Task(subjects.scheduler_task("create"), op_id, payload)
        op = operations.new(identity, "CreateVolume", volume_id, request_id, op_id, task, retry_after)
    return Started(op, task)


def get_volume(identity: Identity, volume_id: str) -> Volume:
    volume = _GET.first(id=volume_id, project=identity.project_id)
    if volume is None:
        raise NotFound("volume", volume_id)
    return volume


def list_volumes(identity: Identity, size: int, token: str, secret: bytes) -> tuple[list[Volume], str]:
    query = Volume.select().where(Volume.project_id == identity.project_id)
    after = pagination.decode(secret, "volumes", token)
    if after:
        created, last_id = after
        created_at = Volume.created_at.python_value(created)
        query = query.where(
            (Volume.created_at > created_at) | ((Volume.created_at == created_at) & (Volume.id > last_id))
        )
    rows = list(query.order_by(Volume.created_at, Volume.id).limit(size + 1))
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]
    return rows[:size], pagination.encode(secret, "volumes", str(last.created_at), last.id)


def update_volume(identity: Identity, volume_id: str, fields: dict) -> Volume:
    with write_transaction():
        volume = get_volume(identity, volume_id)
        Volume.update(updated_at=utcnow(), **fields).where(Volume.id == volume.id).execute()
        return Volume.get_by_id(volume.id)


def delete_volume(identity: Identity, volume_id: str, request_id: str, retry_after: float) -> Started:
    with write_transaction():
        replay = operations.find_by_request(identity, "DeleteVolume", request_id)
        if replay:
            return Started(replay, None)
        volume = get_volume(identity, volume_id)
        if volume.status not in states.DELETABLE:
            raise FailedPrecondition(
                f"volume {volume_id} is {volume.status}; only volumes that are "
                f"{', '.join(sorted(states.DELETABLE))} can be deleted",
                "VOLUME_STATUS_INVALID",
                {"volume_id": volume_id, "status": volume.status},
            )
        states.cas_status(volume.id, [volume.status], states.DELETING)
        if not volume.host:
            # Never placed: no backend holds any data, so the row can go now.
            volume = Volume.get_by_id(volume.id)
            op = operations.new(identity, "DeleteVolume", volume.id, request_id)
            operations.finish(op.id, response=to_proto(volume).SerializeToString())
            remove_volume(volume)
            return Started(Operation.get_by_id(op.id), None, "deleted")
        op_id = operations.new_id()
        payload = {"verb": "delete", "operation_id": op_id, "volume_id": volume.id, "pool": volume.host}
        task = Task(subjects.volume_task(host_of(volume.host), "delete"), op_id, payload)
        op = operations.new(identity, "DeleteVolume", volume.id, request_id, op_id, task, retry_after)
    return Started(op, task)


def remove_volume(volume: Volume) -> None:
    """Deletes the row and gives its quota back, inside the caller's transaction."""
    volume.delete_instance()
    quota.release(volume.project_id, counted(volume.size_gb))
