"""Keeping a long backup task's claims fresh: its JetStream message (so it
is not redelivered), its operation's outbox row (so it is not re-sent) and
its repository lock (so garbage collection keeps waiting), but only while
the work moves: a task stuck for STALL seconds stops beating, is
redelivered to another instance and does not hang forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ember import operations, writer
from ember.bus import Delivery
from ember.periodic import Done, Periodic

log = logging.getLogger(__name__)

STALL = 600.0


class KeepAlive:
    def __init__(self, delivery: Delivery, operation_id: str, every: float, retry_after: float):
        self.delivery, self.operation_id = delivery, operation_id
        self.every, self.retry_after = every, retry_after
        self.lock = None
        self.moved = time.monotonic()

    def __call__(self) -> None:
        """The work moved (called from any thread)."""
        self.moved = time.monotonic()

    async def _beat(self) -> None:
        await self.delivery.working()
        await writer.run(operations.touch, self.operation_id, self.retry_after)
        if self.lock is not None:
            await asyncio.to_thread(self.lock.refresh)

    async def _step(self) -> None:
        if time.monotonic() - self.moved > STALL:
            log.warning("task %s has not moved for %.0fs; letting it be redelivered", self.operation_id, STALL)
            raise Done
        await self._beat()

    @contextlib.asynccontextmanager
    async def running(self):
        beating = Periodic(f"keeping task {self.operation_id} alive", self.every, self._step, expected=(Exception,))
        await beating.start()
        try:
            yield self
        finally:
            await beating.stop()
