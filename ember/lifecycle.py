"""The parts a process runs beside its gRPC server (watchers, consumers,
periodic work, one-off start-up steps): started in order, stopped in reverse, each within a deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Awaitable, Callable, Iterable, Protocol, Sequence

log = logging.getLogger(__name__)

# A stop slower than this is worth a line in the log.
SLOW_STOP = 1.0
# A step is given at least this long, however little of the deadline is left.
LEAST = 0.5


class Part(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclasses.dataclass
class Step:
    """A part made of callables: a one-off at start (a start-up sweep), a
    clean-up at stop, or both."""

    name: str
    on_start: Callable[[], Awaitable[object]] | None = None
    on_stop: Callable[[], Awaitable[object]] | None = None

    async def start(self) -> None:
        if self.on_start is not None:
            await self.on_start()

    async def stop(self) -> None:
        if self.on_stop is not None:
            await self.on_stop()


async def start_all(parts: Sequence[Part]) -> list[Part]:
    """Starts `parts` in order and returns them; if one fails, those already
    started are stopped (in reverse) before its error goes on."""
    started: list[Part] = []
    try:
        for part in parts:
            await part.start()
            started.append(part)
    except BaseException:
        await stop_all(reversed(started), time.monotonic() + 10.0)
        raise
    return started


async def stop_all(parts: Iterable[Part], deadline: float) -> None:
    """Stops `parts` in the order given, each within what is left until
    `deadline` (time.monotonic()): better to skip a stuck part, and say
    which, than to lose the parts after it."""
    for part in parts:
        began = time.monotonic()
        try:
            await asyncio.wait_for(part.stop(), max(deadline - began, LEAST))
        except asyncio.TimeoutError:
            log.warning("stopping: %s did not finish within %.1fs; going on without it", part.name,
                        time.monotonic() - began)
            continue
        except Exception:
            log.exception("stopping: %s failed; going on", part.name)
            continue
        if time.monotonic() - began > SLOW_STOP:
            log.warning("stopping: %s took %.1fs", part.name, time.monotonic() - began)
