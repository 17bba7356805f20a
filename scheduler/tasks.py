"""The scheduler's task handler: place a volume being created, forward the
task to the chosen host, or fail the volume with every reason it has."""

from __future__ import annotations

import logging

from ember import failpoints, outbox, subjects, volume_tasks, writer
from ember.bus import Delivery, Retry
from ember.config import Settings
from ember.entrypoints import TaskHandlers, task
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
        payload["size_gb"], payload.get("availability_zone", ""), payload.get("extra_specs") or {}, payload["tried"],
        payload.get("backend", ""),
    )


class SchedulerTasks(TaskHandlers):
    """Idempotent without reading the volume: forwarding an operation that
    already finished changes nothing, so a redelivery is dropped there."""

    kind = "scheduler task"

    def __init__(self, bus, view: PoolView, settings: Settings):
        self.bus, self.view, self.settings = bus, view, settings

    async def _forward(self, payload: dict, pool, verb: str, msg_id: str) -> bool:
        task = Task(subjects.volume_task(pool.host, verb), msg_id, dict(payload, pool=pool.name))
        if not await writer.run(outbox.forward, payload["operation_id"], task, self.settings.outbox_retry_after):
            return False
        self.view.record_placement(pool, payload["size_gb"])
        failpoints.hit("scheduler.before_publish")
        await outbox.publish(self.bus, task)
        failpoints.hit("scheduler.before_ack")
        return True

    def _unless_silent(self, pools: list, delivery: Delivery) -> None:
        """Raises Retry when none of `pools` has reported lately, unless this
        delivery is the task's last. A scheduler sees that when every storage
        host is down, but also while the bus elects new leaders or its mirror
        of the reports catches up (a NATS host lost): a later delivery tells
        the two apart, where failing now would fail volumes that hosts in
        good health could have made."""
        if pools and not delivery.final and all(self.view.is_stale(pool) for pool in pools):
            raise Retry("no pool has reported within the service-down window; waiting for reports")

    @task("extend")
    async def extend(self, delivery: Delivery) -> None:
        """Cinder sends extends through the scheduler too: the volume's own
        pool must have room for the added size."""
        p = delivery.payload
        pools = [pool for pool in self.view.all_pools() if pool.name == p["pool"]]
        self._unless_silent(pools, delivery)
        decision = place(pools, Request(p["size_gb"]), policy(self.settings))
        if decision.chosen is None:
            reason = decision.reason() if pools else f"pool {p['pool']} has not reported its capacity"
            log.warning("extending volume %s: %s", p["volume_id"], reason)
            error = ResourceExhausted(f"cannot extend: {reason}", "NO_ROOM_TO_EXTEND", {"volume_id": p["volume_id"]})
            await volume_tasks.fail(self.bus, p["operation_id"], p, error, back=True)
            return
        await self._forward(p, decision.chosen, "extend", f"{p['operation_id']}.extend")

    @task("create")
    async def create(self, delivery: Delivery) -> None:
        p = delivery.payload
        earlier = p.get("errors", [])
        if len(p["tried"]) >= self.settings.scheduler_max_attempts:
            await self._fail(p, f"gave up after {len(p['tried'])} attempts: " + "; ".join(earlier))
            return
        pools = self.view.all_pools()
        self._unless_silent(pools, delivery)
        decision = place(pools, request_of(p), policy(self.settings))
        if decision.chosen is None:
            await self._fail(p, "; ".join(earlier + [decision.reason()]))
            return
        await self._forward(p, decision.chosen, "create", f"{p['operation_id']}.place{len(p['tried'])}")

    async def _fail(self, payload: dict, reason: str) -> None:
        log.warning("volume %s: %s", payload["volume_id"], reason)
        error = ResourceExhausted(reason, "NO_VALID_BACKEND", {"volume_id": payload["volume_id"]})
        await volume_tasks.fail(self.bus, payload["operation_id"], payload, error)
