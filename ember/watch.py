"""Watch streams: a resource's current state, then its state again after
each status event from the EVENTS stream (and each progress event of a
task running on it), until it is stable or gone. The consumer starts
before the first read, so no change between the read and the first event
can be missed."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Awaitable, Callable

from nats.js.api import DeliverPolicy

from ember import events, lookup, subjects
from ember.errors import NotFound

DELETED = "deleted"
# How long one wait for an event may take before the stream re-reads the
# resource anyway (a lost event must not leave a watcher hanging).
REREAD_AFTER = 30.0


def owned(model, row_id: str, project_id: str) -> Callable[[], Awaitable[Any]]:
    """A `load` for watch(): the project's row of `model`, or None."""

    async def load():
        return await asyncio.to_thread(lookup.find, model, row_id, project_id)

    return load


async def watch(
    js, resource: str, resource_id: str, kind: str, load: Callable[[], Awaitable[Any]], stable: Callable[[Any], bool]
) -> AsyncIterator[tuple[Any | None, dict[str, Any] | None]]:
    """Yields (resource, None), then again at each status change, and
    (resource, progress event) as a task on it moves; (None, None) and the
    end when it was deleted. NotFound if it does not exist."""
    sub = await js.subscribe(
        subjects.event(resource, resource_id), ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    try:
        row = await load()
        if row is None:
            raise NotFound(kind, resource_id)
        last = row.status
        yield row, None
        while not stable(row):
            try:
                event = json.loads((await sub.next_msg(timeout=REREAD_AFTER)).data)
            except TimeoutError:
                event = {}
            if event.get("status") == events.PROGRESS:
                yield row, event
                continue
            if event.get("status") == DELETED:
                yield None, None
                return
            row = await load()
            if row is None:
                yield None, None
                return
            if row.status != last:
                last = row.status
                yield row, None
    finally:
        await sub.unsubscribe()
