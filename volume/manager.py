"""What the VolumeService API does to the database: each public function is one
transaction, callable from tests without a network."""

from __future__ import annotations

import dataclasses
import uuid

from ember import extra_specs, operations, pagination, quota, states, subjects
from ember.auth import Identity
from ember.db import Attachment, Operation, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition, InvalidArgument, NotFound
from ember.outbox import Task
from ember.prepared import Param, Prepared, PreparedInsert
from volume import types
from volume.backends import host_of
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


@dataclasses.dataclass(frozen=True)
class NewVolume:
    size_gb: int
    name: str = ""
    description: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)
    request_id: str = ""
    volume_type: str = ""
    availability_zone: str = ""


def counted(size_gb: int, type_id: str) -> dict[str, int]:
    """What one volume counts against its project's quotas."""
    return {
        "volumes": 1,
        "gigabytes": size_gb,
        quota.per_type("volumes", type_id): 1,
        quota.per_type("gigabytes", type_id): size_gb,
    }


def create_volume(identity: Identity, new: NewVolume, default_limits: dict[str, int], retry_after: float) -> Started:
    with write_transaction():
        replay = operations.find_by_request(identity, "CreateVolume", new.request_id)
        if replay:
            return Started(replay, None)
        volume_type = types.for_create(identity, new.volume_type)
        allowed_zones = extra_specs.zones(volume_type.extra_specs)
        if new.availability_zone and allowed_zones and new.availability_zone not in allowed_zones:
            raise InvalidArgument(
                "availability_zone",
                f"volume type {volume_type.name} may only use zones {', '.join(allowed_zones)}",
            )
        quota.reserve(
            identity.project_id, counted(new.size_gb, volume_type.id), quota.limits(identity.project_id, default_limits),
            {quota.per_type(kind, volume_type.id): quota.per_type_label(kind, volume_type.name) for kind in quota.KINDS},
        )
        volume_id, op_id = str(uuid.uuid4()), operations.new_id()
        _INSERT.execute(
            id=volume_id,
            project_id=identity.project_id,
            user_id=identity.user_id,
            name=new.name,
            description=new.description,
            size_gb=new.size_gb,
            metadata=new.metadata,
            status=states.CREATING,
            volume_type=volume_type.id,
            volume_type_name=volume_type.name,
            availability_zone=new.availability_zone,
            multiattach=extra_specs.multiattach(volume_type.extra_specs),
        )
        payload = {
            "verb": "create", "operation_id": op_id, "volume_id": volume_id, "size_gb": new.size_gb, "tried": [],
            "availability_zone": new.availability_zone, "extra_specs": volume_type.extra_specs,
        }
        task = Task(subjects.scheduler_task("create"), op_id, payload)
        op = operations.new(identity, "CreateVolume", volume_id, new.request_id, op_id, task, retry_after)
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
        attached = Attachment.select().where(Attachment.volume == volume.id).count()
        if attached:
            raise FailedPrecondition(
                f"volume {volume_id} has {attached} attachment(s); delete them (detach) first",
                "VOLUME_ATTACHED", {"volume_id": volume_id, "status": volume.status, "attachments": attached},
            )
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
    quota.release(volume.project_id, counted(volume.size_gb, volume.volume_type_id))
