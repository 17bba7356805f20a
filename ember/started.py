"""What an API transaction that started an operation hands back (`Started`),
and `answer`: publish its task (or the event of an operation that finished
at once) once committed, and answer with the Operation."""

from __future__ import annotations

import dataclasses

from ember import events, failpoints, operations, outbox
from ember.db import Operation
from ember.outbox import Task


@dataclasses.dataclass
class Started:
    """An operation, and the task to publish for it once committed (None when
    the operation was a replay or finished at once, with `finished_status`)."""

    operation: Operation
    task: Task | None
    finished_status: str | None = None


async def answer(bus, started: Started, resource: str):
    op = started.operation
    if started.task is not None:
        failpoints.hit("volume.api.before_publish")
        await outbox.publish(bus, started.task)
    elif started.finished_status:
        await events.announce(bus, resource, op.target, started.finished_status, op.id)
    return operations.to_proto(op)
