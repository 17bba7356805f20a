"""The tasks a storage host runs on its own backend: create and delete. Each is
idempotent (a redelivery after a crash finishes the work) and acks only after
its transaction commits."""

from __future__ import annotations

import asyncio
import logging
from ember import events, failpoints, operations, outbox, states, subjects, volume_tasks, writer
from ember.bus import Delivery, Retry
from ember.db import Volume, utcnow, write_transaction
from ember.errors import EmberError
from ember.outbox import Task
from ember.prepared import Param, Prepared
from volume.convert import to_proto
from volume.backends import Backends, backend_of
from volume.manager import remove_volume
from volume.reporter import CapacityReporter

log = logging.getLogger(__name__)


_LOAD = Prepared(lambda: Volume.select().where(Volume.id == Param("id")))


def _load(volume_id: str) -> Volume | None:
    return _LOAD.first(id=volume_id)


def _complete_create(operation_id: str, volume: Volume, pool_name: str, zone: str) -> bool:
    placed = dict(host=pool_name, status_detail="", availability_zone=zone, updated_at=utcnow())
    with write_transaction():
        if not states.cas_status(volume.id, [states.CREATING], states.AVAILABLE, **placed):
            return False
        for field, value in dict(placed, status=states.AVAILABLE).items():
            setattr(volume, field, value)
        operations.finish(operation_id, response=to_proto(volume).SerializeToString())
    return True


def _reschedule(payload: dict, reason: str, retry_after: float) -> Task | None:
    """Sends a create that this backend could not do back to the scheduler."""
    payload = dict(payload, tried=payload["tried"] + [payload["pool"]], errors=payload.get("errors", []) + [reason])
    task = Task(subjects.scheduler_task("create"), f"{payload['operation_id']}.retry{len(payload['tried'])}", payload)
    return task if outbox.forward(payload["operation_id"], task, retry_after) else None


def _complete_delete(operation_id: str, volume_id: str) -> bool:
    with write_transaction():
        volume = Volume.get_or_none(Volume.id == volume_id, Volume.status == states.DELETING)
        if volume is None:
            return False
        operations.finish(operation_id, response=to_proto(volume).SerializeToString())
        remove_volume(volume)
    return True


class HostTasks:
    def __init__(self, bus, backends: Backends, reporter: CapacityReporter, zone: str, retry_after: float):
        self.bus, self.backends, self.reporter = bus, backends, reporter
        self.zone, self.retry_after = zone, retry_after

    async def handle(self, delivery: Delivery) -> None:
        verb = delivery.subject.rpartition(".")[2]
        if verb == "create":
            await self.create(delivery)
        elif verb == "delete":
            await self.delete(delivery)
        else:
            log.error("unknown volume task %s; dropping it", delivery.subject)

    async def create(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(_load, p["volume_id"])
        if volume is None or volume.status != states.CREATING:
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            await asyncio.to_thread(driver.create, pool, volume.id, volume.size_gb)
        except Exception as exc:
            log.warning("creating %s on %s failed: %s", volume.id, p["pool"], exc)
            await self.reporter.create_failed(backend_of(p["pool"]), str(exc))
            task = await writer.run(_reschedule, p, f"{p['pool']}: {exc}", self.retry_after)
            if task is not None:
                await outbox.publish(self.bus, task)
            return
        failpoints.hit("volume.create.after_driver")
        self.reporter.create_succeeded(driver.backend)
        if await writer.run(_complete_create, p["operation_id"], volume, p["pool"], self.zone):
            await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, states.AVAILABLE, p["operation_id"])
            return
        current = await asyncio.to_thread(_load, volume.id)
        if current is None or current.host != p["pool"]:
            # The volume ended elsewhere (or failed) while we worked: drop our copy.
            await asyncio.to_thread(driver.delete, pool, volume.id)
            self.reporter.changed(driver.backend)

    async def delete(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(_load, p["volume_id"])
        if volume is None or volume.status != states.DELETING:
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            await asyncio.to_thread(driver.delete, pool, volume.id)
        except Exception as exc:
            if not delivery.final:
                raise Retry(f"deleting {volume.id} failed: {exc}", delay=2.0 * delivery.attempt)
            error = EmberError(f"the backend could not delete the volume: {exc}", "BACKEND_DELETE_FAILED")
            await volume_tasks.fail(self.bus, p["operation_id"], volume.id, "delete", error)
            return
        if await writer.run(_complete_delete, p["operation_id"], volume.id):
            self.reporter.changed(driver.backend)
            await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, "deleted", p["operation_id"])
