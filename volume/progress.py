"""Progress of long copies (snapshots, clones, volumes from snapshots): the
copy, in a worker thread, reports bytes done; the operation's
progress_percent and a progress event follow, at most every few percent."""

from __future__ import annotations

import asyncio

from ember import events, operations, writer

STEP = 5


class Progress:
    def __init__(self, bus, loop: asyncio.AbstractEventLoop, operation_id: str, resource: str, resource_id: str):
        self.bus, self.loop, self.operation_id = bus, loop, operation_id
        self.resource, self.resource_id = resource, resource_id
        self.reported = 0

    def __call__(self, done: int, total: int) -> None:
        """Called from the copying thread."""
        percent = min(99, done * 100 // total) if total else 99
        if percent - self.reported >= STEP:
            self.reported = percent
            asyncio.run_coroutine_threadsafe(self._report(percent), self.loop)

    async def _report(self, percent: int) -> None:
        await writer.run(operations.set_progress, self.operation_id, percent)
        await events.announce(self.bus, self.resource, self.resource_id, events.PROGRESS, extra={
            "progress_percent": percent, events.PROGRESS_OF: self.operation_id})
