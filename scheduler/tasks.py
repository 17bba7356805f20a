"""The scheduler's task handler: place a volume being created, forward the
task to the chosen host, or fail the volume with every reason it has."""

from __future__ import annotations

import logging

from ember import outbox, subjects, volume_tasks, writer
from ember.bus import Delivery
from ember.config import Settings
from ember.errors import ResourceExhausted
from ember.outbox import Task
from scheduler.placement import Policy, Request, place
from scheduler.pool_view import PoolView

log = logging.getLogger(__name__)


def policy(settings: Settings) -> Policy:
    return Policy(
        down_after=settings.service_down_after,
        failure_cooloff=settings.backend_failure_cooloff,
        free_capacity_multiplier=settings.free_capacity_weight_multiplier,
        allocated_capacity_multiplier=settings.allocated_capacity_weight_multiplier,
    )


def request_of(payload: dict) -> Request:
    return Request(
        payload["size_gb"], payload.get("availability_zone", ""), payload.get("extra_specs") or {}, payload["tried"]
    )


class SchedulerTasks:
    def __init__(self, bus, view: PoolView, settings: Settings):
        self.bus, self.view, self.settings = bus, view, settings

    async def handle(self, delivery: Delivery) -> None:
        """Idempotent without reading the volume: forwarding an operation that
        already finished changes nothing, so a redelivery is dropped there."""
        p = delivery.payload
        earlier = p.get("errors", [])
        if len(p["tried"]) >= self.settings.scheduler_max_attempts:
            await self._fail(p, f"gave up after {len(p['tried'])} attempts: " + "; ".join(earlier))
            return
        decision = place(self.view.all_pools(), request_of(p), policy(self.settings))
        if decision.chosen is None:
            await self._fail(p, "; ".join(earlier + [decision.reason()]))
            return
        pool = decision.chosen
        task = Task(
            subjects.volume_task(pool.host, "create"),
            f"{p['operation_id']}.place{len(p['tried'])}",
            dict(p, pool=pool.name),
        )
        if not await writer.run(outbox.forward, p["operation_id"], task, self.settings.outbox_retry_after):
            return
        self.view.record_placement(pool, p["size_gb"])
        await outbox.publish(self.bus, task)

    async def _fail(self, payload: dict, reason: str) -> None:
        log.warning("volume %s: %s", payload["volume_id"], reason)
        error = ResourceExhausted(reason, "NO_VALID_BACKEND", {"volume_id": payload["volume_id"]})
        await volume_tasks.fail(self.bus, payload["operation_id"], payload["volume_id"], "create", error)
