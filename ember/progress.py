"""Progress of long work (copies, backups, restores, verifies): the worker
thread reports bytes done; the operation's progress_percent (which also
keeps the reconciler from re-sending a task that is running) and a progress
event with the bytes follow, at most every few percent."""

from __future__ import annotations

import asyncio

from ember import events, operations, writer

STEP = 5


class Progress:
    def __init__(
        self, bus, loop: asyncio.AbstractEventLoop, operation_id: str, resource: str, resource_id: str,
        retry_after: float = 30.0, meter=None,
    ):
        self.bus, self.loop, self.operation_id = bus, loop, operation_id
        self.resource, self.resource_id, self.retry_after = resource, resource_id, retry_after
        self.reported = 0
        # A Prometheus counter that every byte of progress is added to.
        self.meter = meter
        self.counted = 0

    def __call__(self, done: int, total: int) -> None:
        """Called from the working thread."""
        if self.meter is not None and done > self.counted:
            self.meter.inc(done - self.counted)
            self.counted = done
        percent = min(99, done * 100 // total) if total else 99
        if percent - self.reported >= STEP:
            self.reported = percent
            asyncio.run_coroutine_threadsafe(self._report(percent, done, total), self.loop)

    async def _report(self, percent: int, done: int, total: int) -> None:
        await writer.run(operations.set_progress, self.operation_id, percent, self.retry_after)
        await events.announce(self.bus, self.resource, self.resource_id, events.PROGRESS, extra={
            "progress_percent": percent, "bytes_done": done, "bytes_total": total,
            events.PROGRESS_OF: self.operation_id})
