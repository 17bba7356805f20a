"""What the VolumeService API does to the database: each public function is one
transaction, callable from tests without a network."""

from __future__ import annotations

import dataclasses
import uuid

import peewee

from ember import operations, outbox, pagination, states, subjects
from ember.auth import Identity
from ember.db import Operation, OutboxTask, Volume, lock, utcnow, write_transaction
from ember.errors import FailedPrecondition, NotFound, ResourceExhausted
from volume.convert import to_proto


@dataclasses.dataclass
class Quota:
    volumes: int
    gigabytes: int


@dataclasses.dataclass
class Started:
    """An operation, and the task to publish for it once committed (None when
    the operation was a replay or finished at once, with `finished_status`)."""

    operation: Operation
    task: OutboxTask | None
    finished_status: str | None = None


def host_of(pool_name: str) -> str:
    return pool_name.partition("@")[0]


def _check_quota(identity: Identity, size_gb: int, quota: Quota) -> None:
    count, used = (
        Volume.select(peewee.fn.COUNT(Volume.id), peewee.fn.COALESCE(peewee.fn.SUM(Volume.size_gb), 0))
        .where(Volume.project_id == identity.project_id)
        .scalar(as_tuple=True)
    )
    if quota.volumes >= 0 and count + 1 > quota.volumes:
        raise ResourceExhausted(
            f"project {identity.project_id} already has {count} of {quota.volumes} volumes allowed",
            metadata={"quota": "volumes", "limit": quota.volumes, "used": count},
        )
    if quota.gigabytes >= 0 and used + size_gb > quota.gigabytes:
        raise ResourceExhausted(
            f"{size_gb} GiB more would exceed the project's {quota.gigabytes} GiB ({used} GiB in use)",
            metadata={"quota": "gigabytes", "limit": quota.gigabytes, "used": used},
        )


def create_volume(
    identity: Identity, size_gb: int, name: str, description: str, metadata: dict, request_id: str,
    quota: Quota, retry_after: float,
) -> Started:
    with write_transaction():
        lock(f"quota:{identity.project_id}")
        replay = operations.find_by_request(identity, "CreateVolume", request_id)
        if replay:
            return Started(replay, None)
        _check_quota(identity, size_gb, quota)
        volume = Volume.create(
            id=str(uuid.uuid4()),
            project_id=identity.project_id,
            user_id=identity.user_id,
            name=name,
            description=description,
            size_gb=size_gb,
            metadata=metadata,
            status=states.CREATING,
        )
        op = operations.new(identity, "CreateVolume", volume.id, request_id)
        payload = {"verb": "create", "operation_id": op.id, "volume_id": volume.id, "size_gb": size_gb, "tried": []}
        task = outbox.add(op.id, subjects.scheduler_task("create"), op.id, payload, retry_after)
    return Started(op, task)


def get_volume(identity: Identity, volume_id: str) -> Volume:
    volume = Volume.get_or_none(Volume.id == volume_id, Volume.project_id == identity.project_id)
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
        op = operations.new(identity, "DeleteVolume", volume.id, request_id)
        volume = Volume.get_by_id(volume.id)
        if not volume.host:
            # Never placed: no backend holds any data, so the row can go now.
            operations.finish(op.id, response=to_proto(volume).SerializeToString())
            volume.delete_instance()
            return Started(Operation.get_by_id(op.id), None, "deleted")
        payload = {"verb": "delete", "operation_id": op.id, "volume_id": volume.id, "pool": volume.host}
        task = outbox.add(op.id, subjects.volume_task(host_of(volume.host), "delete"), op.id, payload, retry_after)
    return Started(op, task)
