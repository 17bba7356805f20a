"""How a volume task fails, shared by the scheduler (no valid backend), the
volume host (driver failure) and the reconciler (deadline): one transaction
sets the error status and fails the operation; then the event."""

from __future__ import annotations

from ember import events, operations, states, writer
from ember.db import write_transaction
from ember.errors import EmberError

RESOURCE = "volumes"
ERROR_STATUS = {"create": (states.CREATING, states.ERROR), "delete": (states.DELETING, states.ERROR_DELETING)}


def _fail(operation_id: str, volume_id: str, verb: str, error: EmberError) -> str | None:
    expected, failed = ERROR_STATUS[verb]
    with write_transaction():
        if not operations.finish(operation_id, error=error):
            return None
        states.cas_status(volume_id, [expected], failed, status_detail=error.message)
    return failed


async def fail(bus, operation_id: str, volume_id: str, verb: str, error: EmberError) -> None:
    """Ends the operation with `error` and the volume in its error status,
    unless the operation had already ended."""
    status = await writer.run(_fail, operation_id, volume_id, verb, error)
    if status:
        await events.announce(bus, RESOURCE, volume_id, status, operation_id)
