"""What goes on the EVENTS stream: a resource's status change, which also
says when it finished an operation, and the progress of long copies, so one
stream serves the resources' watchers and the gateway's WaitOperation."""

from __future__ import annotations

import json
import logging
from typing import Any

from ember import subjects

log = logging.getLogger(__name__)


def status_changed(
    resource: str, resource_id: str, status: str, operation_id: str = "", extra: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(subject, payload) of the event; `operation_id` names the operation the
    change finished; `extra` adds details (progress, an admin's action)."""
    payload = {"resource": resource, "id": resource_id, "status": status, **(extra or {})}
    if operation_id:
        payload["finished_operation"] = operation_id
    return subjects.event(resource, resource_id), payload


PROGRESS = "progress"
PROGRESS_OF = "progress_of"


def operation_moved(data: bytes) -> str:
    """The id of the operation an event says finished or progressed, or ''."""
    try:
        payload = json.loads(data)
        return str(payload.get("finished_operation") or payload.get(PROGRESS_OF) or "")
    except (ValueError, AttributeError):
        return ""


async def announce(
    bus, resource: str, resource_id: str, status: str, operation_id: str = "", extra: dict[str, Any] | None = None
) -> None:
    """Events are notifications only (the database already holds the truth),
    so a failed publish is logged, not retried."""
    subject, payload = status_changed(resource, resource_id, status, operation_id, extra)
    try:
        await bus.publish_event(subject, payload)
    except Exception as exc:
        log.warning("event %s for %s not published: %s", status, resource_id, exc)
