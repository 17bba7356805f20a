"""CreateAttachment's request_id (AIP-155): the record of what a request made
and how it ended, so that its retries get the same attachment or the same
error. Called inside the transactions of volume.attachments."""

from __future__ import annotations

import datetime

import peewee

from ember.auth import Identity
from ember.db import Attachment, AttachmentRequest, database, utcnow
from ember.errors import EmberError, FailedPrecondition, InvalidArgument, Recorded

# How long a request_id is remembered; a retry after that makes a new attachment.
RETENTION = datetime.timedelta(hours=24)


def _find(identity: Identity, request_id: str) -> AttachmentRequest | None:
    return AttachmentRequest.get_or_none(
        AttachmentRequest.project_id == identity.project_id, AttachmentRequest.request_id == request_id
    )


def replay(identity: Identity, request_id: str, volume_id: str, instance_id: str, mode: str) -> Attachment | None:
    """The attachment an earlier call with this request_id made; None if
    there was none. Raises the error it ended with, or INVALID_ARGUMENT if
    this call asks for something else under the same request_id."""
    earlier = _find(identity, request_id)
    return None if earlier is None else _outcome(earlier, volume_id, instance_id, mode)


def _outcome(earlier: AttachmentRequest, volume_id: str, instance_id: str, mode: str) -> Attachment:
    asked, first = (volume_id, instance_id, mode), (earlier.volume_id, earlier.instance_id, earlier.mode)
    if asked != first:
        raise InvalidArgument(
            "request_id",
            f"{earlier.request_id} was used for volume {first[0]}, instance {first[1]}, mode {first[2]}; "
            "a retry must repeat its request, and a new request needs a new request_id",
        )
    if earlier.error_code:
        raise Recorded(earlier.error_code, earlier.error_message, earlier.error_reason)
    attachment = Attachment.get_or_none(Attachment.id == earlier.attachment_id)
    if attachment is None:
        raise FailedPrecondition(
            f"attachment {earlier.attachment_id}, made by request_id {earlier.request_id}, has been deleted since; "
            "send a new request_id to attach again",
            "ATTACHMENT_DELETED", {"attachment_id": earlier.attachment_id},
        )
    return attachment


def record(identity: Identity, request_id: str, volume_id: str, instance_id: str, mode: str,
           attachment_id: str) -> Attachment | None:
    """Claims the request_id for a new attachment; if a concurrent call with
    the same request_id claimed it first, that call's attachment (or error)."""
    try:
        with database.obj.atomic():
            AttachmentRequest.insert(
                project_id=identity.project_id, request_id=request_id, volume_id=volume_id,
                instance_id=instance_id, mode=mode, attachment_id=attachment_id,
            ).execute()
    except peewee.IntegrityError:
        return _outcome(_find(identity, request_id), volume_id, instance_id, mode)
    return None


def record_failure(attachment_id: str, error: EmberError) -> None:
    """What the request that made this attachment ended with, for its retries."""
    AttachmentRequest.update(
        error_code=error.code.name, error_reason=error.reason, error_message=error.message
    ).where(AttachmentRequest.attachment_id == attachment_id).execute()


def purge() -> int:
    """Forgets request_ids older than RETENTION; how many."""
    return AttachmentRequest.delete().where(AttachmentRequest.created_at < utcnow() - RETENTION).execute()
