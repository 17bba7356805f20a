"""Attachments in the database: reserving a volume for an instance, the steps
around its export, completing and removing it, and the volume status that
follows. Each public function is one transaction, callable without a network;
the export itself happens between these steps, on the volume's host."""

from __future__ import annotations

import uuid

from ember import pagination, states
from ember.auth import Identity
from ember.db import Attachment, Volume, utcnow, write_transaction
from ember.errors import FailedPrecondition, NotFound
from volume.backends import host_of

MODES = ("rw", "ro")


def _volume_of(identity: Identity, volume_id: str) -> Volume:
    volume = Volume.get_or_none(Volume.id == volume_id, Volume.project_id == identity.project_id)
    if volume is None:
        raise NotFound("volume", volume_id)
    return volume


def get(identity: Identity, attachment_id: str, any_project: bool = False) -> Attachment:
    query = Attachment.select().where(Attachment.id == attachment_id)
    if not any_project:
        query = query.where(Attachment.project_id == identity.project_id)
    found = query.first()
    if found is None:
        raise NotFound("attachment", attachment_id)
    return found


def list_attachments(
    identity: Identity, volume_id: str, size: int, token: str, secret: bytes
) -> tuple[list[Attachment], str]:
    query = Attachment.select().where(Attachment.project_id == identity.project_id)
    if volume_id:
        query = query.where(Attachment.volume == volume_id)
    return pagination.keyset_page(query, Attachment, "attachments", size, token, secret)


def settle_volume(volume_id: str) -> str:
    """Moves the volume to the status its attachments give it; the status."""
    statuses = [a.status for a in Attachment.select(Attachment.status).where(Attachment.volume == volume_id)]
    wanted = states.attach_status(statuses)
    states.cas_status(volume_id, states.predecessors(wanted), wanted)
    return wanted


def _refuse(volume: Volume, why: str, reason: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"volume {volume.id} is {volume.status}; {why}", reason, {"volume_id": volume.id, "status": volume.status}
    )


def reserve(identity: Identity, volume_id: str, instance_id: str, mode: str) -> Attachment:
    """A new attachment holding the volume for the instance (Cinder's reserve)."""
    with write_transaction():
        volume = _volume_of(identity, volume_id)
        if volume.status not in states.ATTACHABLE or (volume.status != states.AVAILABLE and not volume.multiattach):
            raise _refuse(
                volume,
                "an attachment needs an available volume (or an attached one whose type allows multi-attach)",
                "VOLUME_NOT_ATTACHABLE",
            )
        others = Attachment.select().where(Attachment.volume == volume.id).count()
        if others and not volume.multiattach:
            raise _refuse(
                volume, f"it has {others} attachment(s) and its type does not allow multi-attach",
                "VOLUME_ALREADY_ATTACHED",
            )
        attachment = Attachment.create(
            id=str(uuid.uuid4()), volume=volume.id, project_id=identity.project_id, instance_id=instance_id,
            status=states.ATTACHMENT_RESERVED, mode=mode, host=host_of(volume.host),
        )
        if volume.status == states.AVAILABLE and not states.cas_status(volume.id, [states.AVAILABLE], states.RESERVED):
            raise _refuse(Volume.get_by_id(volume.id), "another request changed it first", "VOLUME_CHANGED")
        return attachment


def begin_export(identity: Identity, attachment_id: str, connector: dict) -> tuple[Attachment, Volume]:
    """reserved -> attaching with the connector recorded; a retry with the
    same connector finds it attaching and exports again (idempotent)."""
    with write_transaction():
        attachment = get(identity, attachment_id)
        retry = attachment.status == states.ATTACHMENT_ATTACHING and attachment.connector == connector
        if attachment.status != states.ATTACHMENT_RESERVED and not retry:
            raise FailedPrecondition(
                f"attachment {attachment_id} is {attachment.status}; only a reserved attachment can be exported "
                "(delete it and attach again)",
                "ATTACHMENT_STATUS_INVALID", {"attachment_id": attachment_id, "status": attachment.status},
            )
        if not retry:
            Attachment.update(status=states.ATTACHMENT_ATTACHING, connector=connector, updated_at=utcnow()).where(
                Attachment.id == attachment_id
            ).execute()
            settle_volume(attachment.volume_id)
        return Attachment.get_by_id(attachment_id), Volume.get_by_id(attachment.volume_id)


def store_export(attachment_id: str, connection_info: dict) -> Attachment | None:
    """Records the export of an attachment still attaching; None if it moved on."""
    with write_transaction():
        updated = (
            Attachment.update(connection_info=connection_info, updated_at=utcnow())
            .where(Attachment.id == attachment_id, Attachment.status == states.ATTACHMENT_ATTACHING)
            .execute()
        )
        return Attachment.get_by_id(attachment_id) if updated else None


def fail_export(attachment_id: str, reason: str) -> None:
    with write_transaction():
        attachment = Attachment.get_or_none(Attachment.id == attachment_id)
        if attachment is None or attachment.status != states.ATTACHMENT_ATTACHING:
            return
        attachment.status, attachment.status_detail, attachment.updated_at = (
            states.ATTACHMENT_ERROR_ATTACHING, reason, utcnow()
        )
        attachment.save()
        settle_volume(attachment.volume_id)


def complete(identity: Identity, attachment_id: str) -> Attachment:
    with write_transaction():
        attachment = get(identity, attachment_id)
        if attachment.status == states.ATTACHMENT_ATTACHED:
            return attachment
        if attachment.status != states.ATTACHMENT_ATTACHING or not attachment.connection_info:
            raise FailedPrecondition(
                f"attachment {attachment_id} is {attachment.status}"
                f"{'' if attachment.connection_info else ' without an export'}; complete it after UpdateAttachment",
                "ATTACHMENT_STATUS_INVALID", {"attachment_id": attachment_id, "status": attachment.status},
            )
        now = utcnow()
        Attachment.update(status=states.ATTACHMENT_ATTACHED, attached_at=now, updated_at=now).where(
            Attachment.id == attachment_id
        ).execute()
        settle_volume(attachment.volume_id)
        return Attachment.get_by_id(attachment_id)


def begin_delete(identity: Identity, attachment_id: str, any_project: bool = False) -> Attachment:
    """Any status -> detaching; the export comes down next, then finish_delete."""
    with write_transaction():
        attachment = get(identity, attachment_id, any_project)
        if attachment.status != states.ATTACHMENT_DETACHING:
            Attachment.update(status=states.ATTACHMENT_DETACHING, updated_at=utcnow()).where(
                Attachment.id == attachment_id
            ).execute()
            settle_volume(attachment.volume_id)
        return Attachment.get_by_id(attachment_id)


def finish_delete(attachment_id: str) -> None:
    with write_transaction():
        attachment = Attachment.get_or_none(Attachment.id == attachment_id)
        if attachment is None:
            return
        attachment.delete_instance()
        settle_volume(attachment.volume_id)


def on_host(host: str) -> tuple[list[Attachment], dict[str, Volume]]:
    """Every attachment this storage host serves, and their volumes by id,
    for reconciling its exports."""
    rows = list(Attachment.select().where(Attachment.host == host))
    volume_ids = {a.volume_id for a in rows}
    return rows, {v.id: v for v in Volume.select().where(Volume.id.in_(volume_ids))} if volume_ids else {}
