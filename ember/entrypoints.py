"""Task handlers declared on a service's class with @task("verb"), and the
consumer the runtime makes for them: one subject, one durable, one set of settings."""

from __future__ import annotations

import functools
import logging
from typing import Awaitable, Callable

from ember.bus import Bus, Delivery
from ember.config import Settings

log = logging.getLogger(__name__)

_VERB = "__ember_task__"


def task(verb: str):
    """Marks a method of a TaskHandlers class as the handler of the tasks
    whose subject ends in `.verb`."""
    def mark(method):
        setattr(method, _VERB, verb)
        return method
    return mark


class TaskHandlers:
    """Base of a service's task handlers: each method marked @task(verb)
    handles its verb. A subclass may override run() to wrap every handler
    (a keep-alive, common error rules)."""

    kind = "task"

    @functools.cached_property
    def handlers(self) -> dict[str, Callable[..., Awaitable[None]]]:
        """verb -> bound handler, collected once from the marked methods."""
        found: dict[str, Callable[..., Awaitable[None]]] = {}
        for name in dir(type(self)):
            verb = getattr(getattr(type(self), name), _VERB, None)
            if verb is not None:
                found[verb] = getattr(self, name)
        return found

    async def handle(self, delivery: Delivery) -> None:
        handler = self.handlers.get(delivery.subject.rpartition(".")[2])
        if handler is None:
            log.error("unknown %s %s; dropping it", self.kind, delivery.subject)
            return
        await self.run(handler, delivery)

    async def run(self, handler: Callable[..., Awaitable[None]], delivery: Delivery) -> None:
        await handler(delivery)


class TaskConsumer:
    """The lifecycle part that feeds `handlers` the tasks on `subject`,
    through the durable consumer `durable`, with the process's ack wait and
    delivery limit; `concurrency` tasks at once."""

    def __init__(self, bus: Bus, settings: Settings, subject: str, durable: str, handlers: TaskHandlers,
                 concurrency: int = 16):
        self.bus, self.settings, self.subject, self.durable = bus, settings, subject, durable
        self.handlers, self.concurrency = handlers, concurrency
        self.name = f"consumer {durable}"

    async def start(self) -> None:
        await self.bus.consume(self.subject, self.durable, self.handlers.handle, ack_wait=self.settings.task_ack_wait,
                               max_deliver=self.settings.task_max_deliver, concurrency=self.concurrency)

    async def stop(self) -> None:
        await self.bus.stop_consuming(self.durable)
