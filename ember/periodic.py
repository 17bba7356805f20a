"""Work a service repeats in the background until it stops (heartbeats,
samplers, reconcilers, watchdogs): the loop, its error handling and its stop, written once."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


class Done(Exception):
    """Raised by a step to end its loop for good, quietly."""


class Periodic:
    """Runs `step` every `interval` seconds, the first time at start() when
    `immediately`, else one interval after it. With `wake`, setting that
    event (or calling poke()) brings the next step forward, but steps stay at
    least `min_gap` seconds apart, so a burst of wake-ups costs one step.
    A step that fails is logged (one line for the `expected` exceptions, with
    the traceback for others) and the next one runs as usual."""

    def __init__(
        self,
        name: str,
        interval: float,
        step: Callable[[], Awaitable[object]],
        *,
        wake: asyncio.Event | None = None,
        min_gap: float = 0.0,
        immediately: bool = False,
        expected: tuple[type[BaseException], ...] = (),
    ):
        self.name, self.interval, self.step = name, interval, step
        self.wake = wake if wake is not None else asyncio.Event()
        self.min_gap, self.immediately, self.expected = min_gap, immediately, expected
        self._task: asyncio.Task | None = None
        self._stopped = False

    async def start(self) -> None:
        self._stopped = False
        self._task = asyncio.create_task(self._loop(), name=self.name)

    def poke(self) -> None:
        """Run the step soon rather than at the end of the interval."""
        self.wake.set()

    async def _pause(self) -> None:
        try:
            async with asyncio.timeout(self.interval):
                await self.wake.wait()
        except TimeoutError:
            pass
        self.wake.clear()

    async def _loop(self) -> None:
        if not self.immediately:
            await self._pause()
        # Not `while True`: a cancellation that arrives as a wait completes
        # can be lost on Python 3.11, and stop() would then wait forever.
        while not self._stopped:
            try:
                await self.step()
            except Done:
                return
            except self.expected as exc:
                log.warning("%s failed: %s; it runs again in %g s", self.name, exc or type(exc).__name__,
                            self.interval)
            except Exception:
                log.exception("%s failed; it runs again in %g s", self.name, self.interval)
            await asyncio.sleep(self.min_gap)
            await self._pause()

    async def stop(self) -> None:
        self._stopped = True
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
