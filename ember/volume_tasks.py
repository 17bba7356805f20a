"""How a volume task ends, shared by the scheduler (no valid backend), the
volume host (driver failure) and the reconciler (deadline): one transaction
sets the error status, fails the operation and clears the outbox; then events."""

from __future__ import annotations

import logging

from ember import operations, outbox, states, subjects
from ember.bus import Bus
from ember.db import write_transaction
from ember.errors import EmberError

log = logging.getLogger(__name__)

ERROR_STATUS = {"create": (states.CREATING, states.ERROR), "delete": (states.DELETING, states.ERROR_DELETING)}


def fail(operation_id: str, volume_id: str, verb: str, error: EmberError) -> str | None:
    """Returns the volume's new status, or None if the task had already ended."""
    expected, failed = ERROR_STATUS[verb]
    with write_transaction():
        if not operations.finish(operation_id, error=error):
            return None
        states.cas_status(volume_id, [expected], failed, status_detail=error.message)
        outbox.remove(operation_id)
    return failed


async def announce(bus: Bus, operation_id: str, volume_id: str, status: str) -> None:
    """Events are notifications only (the database already holds the truth),
    so a failed publish is logged, not retried."""
    try:
        await bus.publish_event(
            subjects.volume_event(volume_id), {"volume_id": volume_id, "status": status, "operation_id": operation_id}
        )
        await bus.publish_event(
            subjects.operation_event(operation_id), {"operation_id": operation_id, "done": True, "status": status}
        )
    except Exception as exc:
        log.warning("event for %s not published: %s", operation_id, exc)
