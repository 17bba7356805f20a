"""The tasks a storage host runs on its own backend: create and delete. Each is
idempotent (a redelivery after a crash finishes the work) and acks only after
its transaction commits."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from ember import failpoints, operations, outbox, states, subjects, volume_tasks
from ember.bus import Delivery, Retry
from ember.db import Volume, write_transaction
from ember.errors import EmberError
from volume.convert import to_proto
from volume.drivers.file import FileDriver

log = logging.getLogger(__name__)


def pool_of(pool_name: str) -> str:
    return pool_name.partition("#")[2]


def _complete_create(operation_id: str, volume_id: str, pool_name: str) -> bool:
    with write_transaction():
        if not states.cas_status(volume_id, [states.CREATING], states.AVAILABLE, host=pool_name, status_detail=""):
            return False
        response = to_proto(Volume.get_by_id(volume_id)).SerializeToString()
        operations.finish(operation_id, response=response)
        outbox.remove(operation_id)
    return True


def _reschedule(payload: dict, reason: str, retry_after: float):
    """Sends a create that this backend could not do back to the scheduler."""
    payload = dict(payload, tried=payload["tried"] + [payload["pool"]], errors=payload.get("errors", []) + [reason])
    msg_id = f"{payload['operation_id']}.retry{len(payload['tried'])}"
    return outbox.forward(payload["operation_id"], subjects.scheduler_task("create"), msg_id, payload, retry_after)


def _complete_delete(operation_id: str, volume_id: str) -> bool:
    with write_transaction():
        volume = Volume.get_or_none(Volume.id == volume_id, Volume.status == states.DELETING)
        if volume is None:
            return False
        operations.finish(operation_id, response=to_proto(volume).SerializeToString())
        volume.delete_instance()
        outbox.remove(operation_id)
    return True


class HostTasks:
    def __init__(self, bus, driver: FileDriver, host: str, retry_after: float, on_change: Callable[[], None]):
        self.bus, self.driver, self.host = bus, driver, host
        self.retry_after = retry_after
        self.on_change = on_change

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
        volume = await asyncio.to_thread(Volume.get_or_none, Volume.id == p["volume_id"])
        if volume is None or volume.status != states.CREATING:
            return
        try:
            await asyncio.to_thread(self.driver.create, pool_of(p["pool"]), p["volume_id"], p["size_gb"])
        except Exception as exc:
            log.warning("creating %s on %s failed: %s", p["volume_id"], p["pool"], exc)
            row = await asyncio.to_thread(_reschedule, p, f"{p['pool']}: {exc}", self.retry_after)
            if row is not None:
                await outbox.publish(self.bus, row)
            return
        failpoints.hit("volume.create.after_driver")
        if await asyncio.to_thread(_complete_create, p["operation_id"], p["volume_id"], p["pool"]):
            self.on_change()
            await volume_tasks.announce(self.bus, p["operation_id"], p["volume_id"], states.AVAILABLE)
            return
        current = await asyncio.to_thread(Volume.get_or_none, Volume.id == p["volume_id"])
        if current is None or current.host != p["pool"]:
            # The volume ended elsewhere (or failed) while we worked: drop our copy.
            await asyncio.to_thread(self.driver.delete, pool_of(p["pool"]), p["volume_id"])

    async def delete(self, delivery: Delivery) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(Volume.get_or_none, Volume.id == p["volume_id"])
        if volume is None or volume.status != states.DELETING:
            return
        try:
            await asyncio.to_thread(self.driver.delete, pool_of(p["pool"]), p["volume_id"])
        except Exception as exc:
            if not delivery.final:
                raise Retry(f"deleting {p['volume_id']} failed: {exc}", delay=2.0 * delivery.attempt)
            error = EmberError(f"the backend could not delete the volume: {exc}", "BACKEND_DELETE_FAILED")
            status = await asyncio.to_thread(volume_tasks.fail, p["operation_id"], p["volume_id"], "delete", error)
            if status:
                await volume_tasks.announce(self.bus, p["operation_id"], p["volume_id"], status)
            return
        if await asyncio.to_thread(_complete_delete, p["operation_id"], p["volume_id"]):
            self.on_change()
            await volume_tasks.announce(self.bus, p["operation_id"], p["volume_id"], "deleted")
