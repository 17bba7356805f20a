"""The task outbox: a task is written in the transaction that changes a status,
published after the commit, and re-published by the reconciler until the
transaction that finishes it removes it (or its deadline fails it)."""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any, Awaitable, Callable

from ember.bus import Bus
from ember.db import OutboxTask, utcnow, write_transaction

log = logging.getLogger(__name__)


def _later(seconds: float) -> datetime.datetime:
    return utcnow() + datetime.timedelta(seconds=seconds)


def add(operation_id: str, subject: str, msg_id: str, payload: dict[str, Any], retry_after: float) -> OutboxTask:
    """Call inside the transaction that makes the task necessary."""
    return OutboxTask.create(
        operation_id=operation_id, subject=subject, msg_id=msg_id, payload=payload, publish_after=_later(retry_after)
    )


def forward(operation_id: str, subject: str, msg_id: str, payload: dict[str, Any], retry_after: float) -> OutboxTask | None:
    """Points a pending task at its next hop; None when it already finished."""
    updated = (
        OutboxTask.update(subject=subject, msg_id=msg_id, payload=payload, publish_after=_later(retry_after))
        .where(OutboxTask.operation_id == operation_id)
        .execute()
    )
    return OutboxTask.get_by_id(operation_id) if updated else None


def remove(operation_id: str) -> None:
    OutboxTask.delete().where(OutboxTask.operation_id == operation_id).execute()


async def publish(bus: Bus, row: OutboxTask) -> None:
    """Best effort: if this fails, the reconciler publishes the row later."""
    try:
        await bus.publish_task(row.subject, row.payload, row.msg_id)
    except Exception as exc:
        log.warning("publishing %s failed (%s); the reconciler will retry", row.msg_id, exc)


def _claim_due(retry_after: float, limit: int = 100) -> list[OutboxTask]:
    """Rows due for publishing, each claimed by pushing its next attempt back,
    so that several reconcilers do not publish the same row at once."""
    now = utcnow()
    claimed = []
    with write_transaction():
        for row in OutboxTask.select().where(OutboxTask.publish_after <= now).limit(limit):
            won = (
                OutboxTask.update(publish_after=_later(retry_after))
                .where(OutboxTask.operation_id == row.operation_id, OutboxTask.publish_after == row.publish_after)
                .execute()
            )
            if won:
                claimed.append(row)
    return claimed


class Reconciler:
    """Re-publishes tasks nobody finished; fails those past their deadline."""

    def __init__(
        self,
        bus: Bus,
        retry_after: float,
        deadline: float,
        expire: Callable[[OutboxTask], Awaitable[None]],
        interval: float = 2.0,
    ):
        self.bus, self.retry_after, self.deadline, self.expire = bus, retry_after, deadline, expire
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def run_once(self) -> int:
        rows = await asyncio.to_thread(_claim_due, self.retry_after)
        oldest = utcnow() - datetime.timedelta(seconds=self.deadline)
        for row in rows:
            if row.created_at < oldest:
                log.warning("task %s passed its deadline; failing it", row.operation_id)
                await self.expire(row)
            else:
                log.info("re-publishing unfinished task %s on %s", row.msg_id, row.subject)
                await publish(self.bus, row)
        return len(rows)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox reconciliation failed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
