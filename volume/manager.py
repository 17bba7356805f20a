"""What the VolumeService API does to the database: each public function is one
transaction, callable from tests without a network."""

from __future__ import annotations

import dataclasses
import uuid

from ember import extra_specs, operations, pagination, quota, states, subjects
from ember.auth import Identity
from ember.db import Operation, Snapshot, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition, InvalidArgument, NotFound
from ember.outbox import Task
from ember.prepared import Param, Prepared, PreparedInsert
from volume import types, validation


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
    source_snapshot_id: str = ""
    source_volume_id: str = ""


@dataclasses.dataclass(frozen=True)
class Source:
    """What a new volume copies: a snapshot or a volume, where it lives, how big."""

    kind: str
    id: str
    pool: str
    size_gb: int
    volume_type_name: str

    def task(self) -> dict:
        return {"kind": self.kind, "id": self.id, "pool": self.pool}


def _source(identity: Identity, new: NewVolume) -> Source | None:
    if new.source_snapshot_id:
        snapshot = Snapshot.get_or_none(Snapshot.id == new.source_snapshot_id, Snapshot.project_id == identity.project_id)
        if snapshot is None:
            raise NotFound("snapshot", new.source_snapshot_id)
        if snapshot.status != states.AVAILABLE:
            raise FailedPrecondition(
                f"snapshot {snapshot.id} is {snapshot.status}; volumes are made from available snapshots",
                "SNAPSHOT_STATUS_INVALID", {"snapshot_id": snapshot.id, "status": snapshot.status},
            )
        origin = Volume.get_by_id(snapshot.volume_id)
        return Source("snapshot", snapshot.id, origin.host, snapshot.size_gb, origin.volume_type_name)
    if new.source_volume_id:
        origin = get_volume(identity, new.source_volume_id)
        if origin.status not in (states.AVAILABLE, states.IN_USE):
            raise FailedPrecondition(
                f"volume {origin.id} is {origin.status}; clones are made of available or in-use volumes",
                "VOLUME_STATUS_INVALID", {"volume_id": origin.id, "status": origin.status},
            )
        return Source("volume", origin.id, origin.host, origin.size_gb, origin.volume_type_name)
    return None


def counted(size_gb: int, type_id: str) -> dict[str, int]:
    """What one volume counts against its project's quotas."""
    return {
        "volumes": 1,
        "gigabytes": size_gb,
        quota.per_type("volumes", type_id): 1,
        quota.per_type("gigabytes", type_id): size_gb,
    }


def counted_snapshot(size_gb: int) -> dict[str, int]:
    """What a snapshot counts against its project's quotas (as in Cinder)."""
    return {"snapshots": 1, "gigabytes": size_gb}


def create_volume(
    identity: Identity, new: NewVolume, default_limits: dict[str, int], retry_after: float,
    verb: str = "CreateVolume", op_id: str | None = None, then: dict | None = None,
) -> Started:
    """With `then` ({"status", "task"}), the storage host leaves the new
    volume in then["status"] and hands the operation to then["task"] (a
    restore onto the new volume) instead of finishing it."""
    with write_transaction():
        replay = operations.find_by_request(identity, verb, new.request_id)
        if replay:
            return Started(replay, None)
        source = _source(identity, new)
        size_gb = new.size_gb or (source.size_gb if source else 0)
        if source and size_gb < source.size_gb:
            raise InvalidArgument(
                "size_gb", f"{size_gb} GiB is smaller than the source's {source.size_gb} GiB; volumes do not shrink"
            )
        volume_type = types.for_create(identity, new.volume_type or (source.volume_type_name if source else ""))
        allowed_zones = extra_specs.zones(volume_type.extra_specs)
        if new.availability_zone and allowed_zones and new.availability_zone not in allowed_zones:
            raise InvalidArgument(
                "availability_zone",
                f"volume type {volume_type.name} may only use zones {', '.join(allowed_zones)}",
            )
        quota.reserve(
            identity.project_id, counted(size_gb, volume_type.id), quota.limits(identity.project_id, default_limits),
            {quota.per_type(kind, volume_type.id): quota.per_type_label(kind, volume_type.name) for kind in quota.KINDS},
        )
        volume_id, op_id = str(uuid.uuid4()), op_id or operations.new_id()
        _INSERT.execute(
            id=volume_id,
            project_id=identity.project_id,
            user_id=identity.user_id,
            name=new.name,
            description=new.description,
            size_gb=size_gb,
            metadata=new.metadata,
            status=states.CREATING,
            source_snapshot_id=new.source_snapshot_id,
            source_volume_id=new.source_volume_id,
            volume_type=volume_type.id,
            volume_type_name=volume_type.name,
            availability_zone=new.availability_zone,
            multiattach=extra_specs.multiattach(volume_type.extra_specs),
        )
        payload = {
            "verb": "create", "operation_id": op_id, "volume_id": volume_id, "size_gb": size_gb, "tried": [],
            "availability_zone": new.availability_zone, "extra_specs": volume_type.extra_specs,
        }
        if source:
            # Copies stay on the source's backend (Cinder's snapshot_same_host).
            payload.update(source=source.task(), backend=source.pool.partition("#")[0])
        if then:
            task_then = then["task"]
            payload["then"] = {"status": then["status"], "subject": task_then.subject, "msg_id": task_then.msg_id,
                               "payload": dict(task_then.payload, volume_id=volume_id)}
            payload["restore_backup_id"] = task_then.payload.get("restore_backup_id", "")
        task = Task(subjects.scheduler_task("create"), op_id, payload)
        op = operations.new(identity, verb, volume_id, new.request_id, op_id, task, retry_after)
    return Started(op, task)


def find_volume(identity: Identity, volume_id: str) -> Volume | None:
    return _GET.first(id=volume_id, project=identity.project_id)


def get_volume(identity: Identity, volume_id: str) -> Volume:
    volume = find_volume(identity, volume_id)
    if volume is None:
        raise NotFound("volume", volume_id)
    return volume


def list_volumes(identity: Identity, size: int, token: str, secret: bytes) -> tuple[list[Volume], str]:
    query = Volume.select().where(Volume.project_id == identity.project_id)
    return pagination.keyset_page(query, Volume, "volumes", size, token, secret)


def update_volume(identity: Identity, volume_id: str, fields: dict, metadata_keys: dict[str, str | None]) -> Volume:
    """Sets `fields`; `metadata_keys` sets (or with None removes) single keys."""
    with write_transaction():
        volume = get_volume(identity, volume_id)
        if metadata_keys:
            fields["metadata"] = validation.merged(fields.get("metadata", volume.metadata), metadata_keys)
        Volume.update(updated_at=utcnow(), **fields).where(Volume.id == volume.id).execute()
        return Volume.get_by_id(volume.id)


def remove_volume(volume: Volume) -> None:
    """Deletes the row, its snapshots' rows, and gives their quota back,
    inside the caller's transaction."""
    for snapshot in Snapshot.select().where(Snapshot.volume == volume.id):
        snapshot.delete_instance()
        quota.release(snapshot.project_id, counted_snapshot(snapshot.size_gb))
    volume.delete_instance()
    quota.release(volume.project_id, counted(volume.size_gb, volume.volume_type_id))
