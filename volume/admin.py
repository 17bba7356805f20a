"""Admins' recovery tools (Cinder's reset-status): put a volume or an
attachment in a given status when the services cannot, e.g. after a host
was lost. The API records each use as an event."""

from __future__ import annotations

from ember.db import Attachment, Volume, utcnow, write_transaction
from ember.errors import NotFound
from volume.attachments import settle_volume


def reset_volume_status(volume_id: str, status: str) -> Volume:
    with write_transaction():
        updated = (
            Volume.update(status=status, previous_status=None, status_detail="", updated_at=utcnow())
            .where(Volume.id == volume_id)
            .execute()
        )
        if not updated:
            raise NotFound("volume", volume_id)
        return Volume.get_by_id(volume_id)


def reset_attachment_status(attachment_id: str, status: str) -> Attachment:
    """The attachment's status, then the volume's as its attachments say."""
    with write_transaction():
        updated = (
            Attachment.update(status=status, status_detail="", updated_at=utcnow())
            .where(Attachment.id == attachment_id)
            .execute()
        )
        if not updated:
            raise NotFound("attachment", attachment_id)
        attachment = Attachment.get_by_id(attachment_id)
        settle_volume(attachment.volume_id)
        return attachment
