"""The tasks a storage host runs on its own backends: create (blank, or a
copy of a snapshot or volume), delete (with the volume's snapshots),
snapshot, delete a snapshot, extend. Each is idempotent (a redelivery after
a crash finishes the work) and acks only after its transaction commits."""

from __future__ import annotations

import asyncio
import logging

from ember import events, failpoints, operations, outbox, states, subjects, volume_tasks, writer
from ember.bus import Delivery, Retry
from ember.db import Snapshot, Volume, utcnow, write_transaction
from ember.entrypoints import TaskHandlers, task
from ember.errors import EmberError
from ember.outbox import Task
from ember.prepared import Param, Prepared
from ember.pool_names import backend_of
from ember.progress import Progress
from ember.volume_messages import snapshot_to_proto, to_proto
from volume import extend, snapshots
from volume.backends import Backends
from volume.manager import remove_volume

from volume.reporter import CapacityReporter

log = logging.getLogger(__name__)

_LOAD = Prepared(lambda: Volume.select().where(Volume.id == Param("id")))


def _load(volume_id: str) -> Volume | None:
    return _LOAD.first(id=volume_id)


def _volume_response(volume: Volume) -> bytes:
    return to_proto(volume).SerializeToString()


def _snapshot_response(snapshot) -> bytes:
    return snapshot_to_proto(snapshot).SerializeToString()


def _complete_create(operation_id: str, volume: Volume, payload: dict, zone: str, retry_after: float):
    """The volume made: available and the operation done, or (with a
    continuation) in the continuation's status with the operation handed to
    its task. Returns (status, task to publish) or None if it had ended."""
    then = payload.get("then")
    status = then["status"] if then else states.AVAILABLE
    placed = dict(host=payload["pool"], status_detail="", availability_zone=zone, updated_at=utcnow())
    with write_transaction():
        if not states.cas_status(volume.id, [states.CREATING], status, **placed):
            return None
        if then:
            task = Task(then["subject"], then["msg_id"], then["payload"])
            outbox.forward(operation_id, task, retry_after)
            return status, task
        for field, value in dict(placed, status=status).items():
            setattr(volume, field, value)
        operations.finish(operation_id, response=_volume_response(volume))
    return status, None


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
        operations.finish(operation_id, response=_volume_response(volume))
        remove_volume(volume)
    return True


class HostTasks(TaskHandlers):
    kind = "volume task"

    def __init__(self, bus, backends: Backends, reporter: CapacityReporter, zone: str, retry_after: float):
        self.bus, self.backends, self.reporter = bus, backends, reporter
        self.zone, self.retry_after = zone, retry_after

    def _progress(self, payload: dict, resource: str, resource_id: str) -> Progress:
        return Progress(self.bus, asyncio.get_running_loop(), payload["operation_id"], resource, resource_id)

    def _source_path(self, source: dict):
        driver, pool = self.backends.locate(source["pool"])
        if source["kind"] == "snapshot":
            return driver.snapshot_path(pool, source["id"])
        return driver.path(pool, source["id"])

    @task("create")
    async def create(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(_load, p["volume_id"])
        if volume is None or volume.status != states.CREATING:
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            if p.get("source"):
                progress = self._progress(p, volume_tasks.RESOURCE, volume.id)
                source = self._source_path(p["source"])
                await asyncio.to_thread(driver.create_from, pool, volume.id, volume.size_gb, source, progress)
            else:
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
        made = await writer.run(_complete_create, p["operation_id"], volume, p, self.zone, self.retry_after)
        if made:
            status, then = made
            if then:
                await outbox.publish(self.bus, then)
                await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, status)
            else:
                await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, status, p["operation_id"])
            return
        current = await asyncio.to_thread(_load, volume.id)
        if current is None or current.host != p["pool"]:
            # The volume ended elsewhere (or failed) while we worked: drop our copy.
            await asyncio.to_thread(driver.delete, pool, volume.id)
            self.reporter.changed(driver.backend)

    @task("delete")
    async def delete(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(_load, p["volume_id"])
        if volume is None or volume.status != states.DELETING:
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            for snapshot_id in p.get("snapshots", ()):
                await asyncio.to_thread(driver.delete_snapshot, pool, snapshot_id)
            await asyncio.to_thread(driver.delete, pool, volume.id)
            failpoints.hit("volume.delete.after_driver")
        except Exception as exc:
            if not delivery.final:
                raise Retry(f"deleting {volume.id} failed: {exc}")
            error = EmberError(f"the backend could not delete the volume: {exc}", "BACKEND_DELETE_FAILED")
            await volume_tasks.fail(self.bus, p["operation_id"], p, error)
            return
        if await writer.run(_complete_delete, p["operation_id"], volume.id):
            self.reporter.changed(driver.backend)
            await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, "deleted", p["operation_id"])

    async def _snapshot_in(self, snapshot_id: str, status: str) -> bool:
        row = await asyncio.to_thread(Snapshot.get_or_none, Snapshot.id == snapshot_id)
        return row is not None and row.status == status

    @task("snapshot")
    async def snapshot(self, delivery: Delivery) -> None:
        p = delivery.payload
        if not await self._snapshot_in(p["snapshot_id"], states.CREATING):
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            progress = self._progress(p, volume_tasks.SNAPSHOTS, p["snapshot_id"])
            how = await asyncio.to_thread(driver.create_snapshot, pool, p["volume_id"], p["snapshot_id"], progress)
        except Exception as exc:
            log.warning("snapshot %s of %s failed: %s", p["snapshot_id"], p["volume_id"], exc)
            await volume_tasks.fail(self.bus, p["operation_id"], p, EmberError(
                f"the backend could not take the snapshot: {exc}", "BACKEND_SNAPSHOT_FAILED"))
            return
        log.info("snapshot %s of %s taken (%s)", p["snapshot_id"], p["volume_id"], how)
        failpoints.hit("volume.snapshot.after_driver")
        if await writer.run(snapshots.finish_create, p["operation_id"], p["snapshot_id"], _snapshot_response):
            self.reporter.changed(driver.backend)
            await events.announce(self.bus, volume_tasks.SNAPSHOTS, p["snapshot_id"], states.AVAILABLE,
                                  p["operation_id"])

    @task("delete_snapshot")
    async def delete_snapshot(self, delivery: Delivery) -> None:
        p = delivery.payload
        if not await self._snapshot_in(p["snapshot_id"], states.DELETING):
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            await asyncio.to_thread(driver.delete_snapshot, pool, p["snapshot_id"])
        except Exception as exc:
            if not delivery.final:
                raise Retry(f"deleting snapshot {p['snapshot_id']} failed: {exc}")
            await volume_tasks.fail(self.bus, p["operation_id"], p, EmberError(
                f"the backend could not delete the snapshot: {exc}", "BACKEND_DELETE_FAILED"))
            return
        if await writer.run(snapshots.finish_delete, p["operation_id"], p["snapshot_id"], _snapshot_response):
            self.reporter.changed(driver.backend)
            await events.announce(self.bus, volume_tasks.SNAPSHOTS, p["snapshot_id"], "deleted", p["operation_id"])

    @task("extend")
    async def extend(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(_load, p["volume_id"])
        if volume is None or volume.status != states.EXTENDING:
            return
        try:
            driver, pool = self.backends.locate(p["pool"])
            await asyncio.to_thread(driver.extend, pool, volume.id, p["new_size_gb"])
        except Exception as exc:
            log.warning("extending %s failed: %s", volume.id, exc)
            await volume_tasks.fail(self.bus, p["operation_id"], p, EmberError(
                f"the backend could not extend the volume: {exc}", "BACKEND_EXTEND_FAILED"))
            return
        grown = await writer.run(extend.finish, p["operation_id"], volume, p, _volume_response)
        if grown is not None:
            self.reporter.changed(driver.backend)
            await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, grown.status, p["operation_id"])
