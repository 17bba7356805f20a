"""A step a service runs every few seconds in the background until it stops:
the loop, its error handling and its stop, written once."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs `step` every `interval` seconds, the first time one interval after
    start(). A step that fails is logged and the next one runs as usual."""

    def __init__(self, name: str, interval: float, step: Callable[[], Awaitable[object]]):
        self.name, self.interval, self.step = name, interval, step
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except Exception:
                log.exception("%s failed; it runs again in %g s", self.name, self.interval)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
