"""Extending a volume: the request (quota for the added space, the volume to
extending), the scheduler's capacity check on the volume's pool, then the
storage host grows the file and the volume returns to where it was."""

from __future__ import annotations

from ember import operations, quota, replay, states, subjects
from ember.auth import Identity
from ember.db import Volume, write_transaction
from ember.errors import FailedPrecondition, InvalidArgument
from ember.outbox import Task
from ember.started import Started
from ember.volumes import get_volume


def extend_volume(
    identity: Identity, volume_id: str, new_size_gb: int, request_id: str, limits: dict[str, int], retry_after: float
) -> Started:
    with replay.once(identity, "ExtendVolume", request_id) as earlier:
        if earlier:
            return earlier
        volume = get_volume(identity, volume_id)
        if new_size_gb <= volume.size_gb:
            raise InvalidArgument(
                "new_size_gb", f"must be larger than the volume's {volume.size_gb} GiB; volumes do not shrink"
            )
        if volume.status != states.AVAILABLE:
            online = "; no target here grows an attached volume, detach it first" if volume.status == states.IN_USE else ""
            raise FailedPrecondition(
                f"volume {volume_id} is {volume.status}; only available volumes can be extended{online}",
                "VOLUME_STATUS_INVALID", {"volume_id": volume_id, "status": volume.status},
            )
        delta = new_size_gb - volume.size_gb
        held = {"gigabytes": delta, quota.per_type("gigabytes", volume.volume_type_id): delta}
        quota.reserve(identity.project_id, held, quota.limits(identity.project_id, limits),
                      {quota.per_type("gigabytes", volume.volume_type_id):
                       quota.per_type_label("gigabytes", volume.volume_type_name)})
        if not states.cas_status(volume.id, [states.AVAILABLE], states.EXTENDING, previous_status=states.AVAILABLE):
            raise FailedPrecondition(f"volume {volume_id} changed meanwhile; try again", "VOLUME_CHANGED")
        op_id = operations.new_id()
        payload = {
            "verb": "extend", "operation_id": op_id, "volume_id": volume.id, "pool": volume.host, "size_gb": delta,
            "new_size_gb": new_size_gb, "previous_status": states.AVAILABLE, "project_id": identity.project_id,
            "quota": held, "tried": [],
        }
        task = Task(subjects.scheduler_task("extend"), op_id, payload)
        return Started(operations.new(identity, "ExtendVolume", volume.id, request_id, op_id, task, retry_after), task)


def finish(operation_id: str, volume: Volume, payload: dict, response) -> Volume | None:
    """The grown volume back in its previous status; None if the task had ended."""
    with write_transaction():
        if not states.cas_status(
            volume.id, [states.EXTENDING], payload["previous_status"], size_gb=payload["new_size_gb"],
            previous_status=None, status_detail="",
        ):
            return None
        grown = Volume.get_by_id(volume.id)
        operations.finish(operation_id, response=response(grown))
        return grown
