"""What a storage host records about its attachments between calls: exports
it cannot serve (and serves again), and reservations nobody completed, which
it releases. Each function is one transaction, callable without a network."""

from __future__ import annotations

import datetime

from ember import states
from ember.db import Attachment, database_now, utcnow, write_transaction
from ember.errors import FailedPrecondition
from volume import attachment_requests
from volume.attachments import settle_volume


def mark_export_failed(attachment_id: str, reason: str) -> Attachment | None:
    """Records that the attachment's export cannot be served, and why; the
    attachment when that is news (a first failure or a new reason), else None."""
    with write_transaction():
        attachment = Attachment.get_or_none(Attachment.id == attachment_id)
        if attachment is None or attachment.status not in states.EXPORTED:
            return None
        if attachment.export_failed_at is not None and attachment.status_detail == reason:
            return None
        attachment.export_failed_at = attachment.export_failed_at or utcnow()
        attachment.status_detail, attachment.updated_at = reason, utcnow()
        attachment.save()
        return attachment


def clear_export_failure(attachment_id: str) -> Attachment | None:
    """The export runs again; the attachment if it had been marked failed."""
    with write_transaction():
        cleared = Attachment.update(export_failed_at=None, status_detail="", updated_at=utcnow()).where(
            Attachment.id == attachment_id, Attachment.export_failed_at.is_null(False)
        ).execute()
        return Attachment.get_by_id(attachment_id) if cleared else None


def _abandoned(host: str, timeout: float):
    cutoff = database_now() - datetime.timedelta(seconds=timeout)
    return Attachment.select().where(
        Attachment.host == host, Attachment.status.in_(states.PENDING), Attachment.pending_since < cutoff
    )


def any_abandoned(host: str, timeout: float) -> bool:
    """Whether claim_abandoned would find anything: a read, so that a host
    with nothing to release takes no write lock."""
    return _abandoned(host, timeout).exists()


def claim_abandoned(host: str, timeout: float) -> list[Attachment]:
    """This host's attachments left reserved or attaching for longer than
    `timeout` seconds, judged by the database's clock, moved to detaching
    with the reason; the caller stops their exports and finishes the delete.
    The requests that made them keep the reason for their retries."""
    with write_transaction():
        claimed = []
        for attachment in list(_abandoned(host, timeout)):
            why = (f"attachment {attachment.id} was released: it stayed {attachment.status} for over {timeout:g} s "
                   "without CompleteAttachment")
            # Compare-and-set: a CompleteAttachment that came first wins.
            moved = Attachment.update(status=states.ATTACHMENT_DETACHING, status_detail=why, updated_at=utcnow()).where(
                Attachment.id == attachment.id, Attachment.status == attachment.status
            ).execute()
            if moved:
                attachment_requests.record_failure(attachment.id, FailedPrecondition(
                    f"{why}; attach again", "ATTACHMENT_RELEASED", {"attachment_id": attachment.id}))
                settle_volume(attachment.volume_id)
                claimed.append(Attachment.get_by_id(attachment.id))
        return claimed
