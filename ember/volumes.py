"""Volume rows as every service reads them (find_volume, get_volume) and
create_volume, the one transaction that makes a volume: VolumeService's
create, a copy of a snapshot or volume, and a restore onto a new volume."""

from __future__ import annotations

import dataclasses
import uuid

from ember import extra_specs, lookup, operations, pool_names, quota, replay, states, subjects, volume_types
from ember.auth import Identity
from ember.db import Snapshot, Volume
from ember.errors import FailedPrecondition, InvalidArgument
from ember.outbox import Task
from ember.prepared import PreparedInsert
from ember.started import Started

_INSERT = PreparedInsert(Volume)


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


def find_volume(identity: Identity, volume_id: str) -> Volume | None:
    return lookup.find(Volume, volume_id, identity.project_id)


def get_volume(identity: Identity, volume_id: str) -> Volume:
    return lookup.get(Volume, volume_id, identity.project_id)


def counted(size_gb: int, type_id: str) -> dict[str, int]:
    """What one volume counts against its project's quotas."""
    return {
        "volumes": 1,
        "gigabytes": size_gb,
        quota.per_type("volumes", type_id): 1,
        quota.per_type("gigabytes", type_id): size_gb,
    }


def _source(identity: Identity, new: NewVolume) -> Source | None:
    if new.source_snapshot_id:
        snapshot = lookup.get(Snapshot, new.source_snapshot_id, identity.project_id)
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


def create_volume(
    identity: Identity, new: NewVolume, default_limits: dict[str, int], retry_after: float,
    verb: str = "CreateVolume", op_id: str | None = None, then: dict | None = None,
) -> Started:
    """With `then` ({"status", "task"}), the storage host leaves the new
    volume in then["status"] and hands the operation to then["task"] (a
    restore onto the new volume) instead of finishing it."""
    with replay.once(identity, verb, new.request_id) as earlier:
        if earlier:
            return earlier
        source = _source(identity, new)
        size_gb = new.size_gb or (source.size_gb if source else 0)
        if source and size_gb < source.size_gb:
            raise InvalidArgument(
                "size_gb", f"{size_gb} GiB is smaller than the source's {source.size_gb} GiB; volumes do not shrink"
            )
        type_name = new.volume_type or (source.volume_type_name if source else "")
        volume_type = volume_types.for_create(identity, type_name)

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
        task = Task(subjects.scheduler_task("create"), op_id, _create_task(
            op_id, volume_id, size_gb, new.availability_zone, volume_type.extra_specs, source, then,
        ))
        op = operations.new(identity, verb, volume_id, new.request_id, op_id, task, retry_after)
    return Started(op, task)


def _create_task(op_id: str, volume_id: str, size_gb: int, zone: str, specs: dict, source: Source | None,
                 then: dict | None) -> dict:
    """The scheduler's create task: where the volume may go and what follows."""
    payload = {
        "verb": "create", "operation_id": op_id, "volume_id": volume_id, "size_gb": size_gb, "tried": [],
        "availability_zone": zone, "extra_specs": specs,
    }
    if source:
        # Copies stay on the source's backend (Cinder's snapshot_same_host).
        payload.update(source=source.task(), backend=pool_names.qualified_backend(source.pool))
    if then:
        task_then = then["task"]
        payload["then"] = {"status": then["status"], "subject": task_then.subject, "msg_id": task_then.msg_id,
                           "payload": dict(task_then.payload, volume_id=volume_id)}
        payload["restore_backup_id"] = task_then.payload.get("restore_backup_id", "")
    return payload
