"""After an API transaction started an operation: publish its task (or the
event of an operation that finished at once) and answer with the Operation."""

from __future__ import annotations

from ember import events, failpoints, operations, outbox
from volume.manager import Started


async def answer(bus, started: Started, resource: str):
    op = started.operation
    if started.task is not None:
        failpoints.hit("volume.api.before_publish")
        await outbox.publish(bus, started.task)
    elif started.finished_status:
        await events.announce(bus, resource, op.target, started.finished_status, op.id)
    return operations.to_proto(op)
