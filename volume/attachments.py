"""Attachments in the database: reserving a volume for an instance, the steps
around its export, completing and removing it, and the volume status that
follows. Each public function is one transaction, callable without a network;
the export itself happens between these steps, on the volume's host."""

from __future__ import annotations

import dataclasses
import uuid

from ember import lookup, pagination, states
from ember.auth import Identity
from ember.db import Attachment, Volume, database_now, utcnow, write_transaction
from ember.errors import EmberError, FailedPrecondition
from ember.pool_names import host_of
from volume import attachment_requests


MODES = ("rw", "ro")
# A refusal names at most this many of the attachments that hold the volume.
MAX_NAMED = 5


def get(identity: Identity, attachment_id: str, any_project: bool = False) -> Attachment:
    return lookup.get(Attachment, attachment_id, None if any_project else identity.project_id)


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


def _holders(volume_id: str) -> list[Attachment]:
    """The attachments that hold a volume: all but failed ones."""
    return list(Attachment.select().where(
        Attachment.volume == volume_id, Attachment.status != states.ATTACHMENT_ERROR_ATTACHING
    ).order_by(Attachment.created_at))


def _refuse(volume: Volume, why: str, reason: str, holders: list[Attachment] = ()) -> FailedPrecondition:
    """A refused attach that names what holds the volume, so that the message
    alone says what to detach."""
    named = "; ".join(f"attachment {a.id} (instance {a.instance_id}, {a.status})" for a in holders[:MAX_NAMED])
    if len(holders) > MAX_NAMED:
        named += f" and {len(holders) - MAX_NAMED} more"
    held = f"; it is held by {named}" if holders else ""
    return FailedPrecondition(
        f"volume {volume.id} is {volume.status}{held}; {why}", reason,
        {"volume_id": volume.id, "status": volume.status, "attachments": ",".join(a.id for a in holders)},
    )


@dataclasses.dataclass(frozen=True)
class Reserved:
    attachment: Attachment
    # Made by an earlier call with the same request_id.
    replayed: bool = False


def reserve(identity: Identity, volume_id: str, instance_id: str, mode: str, request_id: str = "") -> Reserved:
    """A new attachment holding the volume for the instance (Cinder's reserve),
    or the one an earlier call with the same request_id made."""
    with write_transaction():
        if request_id:
            earlier = attachment_requests.replay(identity, request_id, volume_id, instance_id, mode)
            if earlier is not None:
                return Reserved(earlier, replayed=True)
        volume = lookup.get(Volume, volume_id, identity.project_id)
        holders = _holders(volume.id)
        if holders and not volume.multiattach:
            raise _refuse(volume, "its type does not allow multi-attach: detach it first", "VOLUME_ALREADY_ATTACHED",
                          holders)
        if volume.status not in states.ATTACHABLE or (volume.status != states.AVAILABLE and not volume.multiattach):
            raise _refuse(
                volume,
                "an attachment needs an available volume (or an attached one whose type allows multi-attach)",
                "VOLUME_NOT_ATTACHABLE", holders,
            )
        attachment_id = str(uuid.uuid4())
        if request_id:
            earlier = attachment_requests.record(identity, request_id, volume.id, instance_id, mode, attachment_id)
            if earlier is not None:
                return Reserved(earlier, replayed=True)
        attachment = Attachment.create(
            id=attachment_id, volume=volume.id, project_id=identity.project_id, instance_id=instance_id,
            status=states.ATTACHMENT_RESERVED, mode=mode, host=host_of(volume.host), pending_since=database_now(),
        )
        if volume.status == states.AVAILABLE and not states.cas_status(volume.id, [states.AVAILABLE], states.RESERVED):
            raise _refuse(Volume.get_by_id(volume.id), "another request changed it first", "VOLUME_CHANGED")
        return Reserved(attachment)


def _exported_to(attachment: Attachment, connector: dict) -> bool:
    return attachment.status in states.EXPORTED and attachment.connector == connector


def begin_export(identity: Identity, attachment_id: str, connector: dict) -> tuple[Attachment, Volume]:
    """reserved -> attaching with the connector recorded. One already
    exported to the same connector (attaching or attached) is exported
    again as it is, which also brings back an export that died."""
    with write_transaction():
        attachment = get(identity, attachment_id)
        if attachment.status == states.ATTACHMENT_RESERVED:
            moved = Attachment.update(
                status=states.ATTACHMENT_ATTACHING, connector=connector, updated_at=utcnow(),
                pending_since=database_now(),
            ).where(Attachment.id == attachment_id, Attachment.status == states.ATTACHMENT_RESERVED).execute()
            if moved:
                settle_volume(attachment.volume_id)
            else:
                # A retry of the same request in another process moved it first.
                attachment = get(identity, attachment_id)
        if attachment.status != states.ATTACHMENT_RESERVED and not _exported_to(attachment, connector):
            raise FailedPrecondition(
                f"attachment {attachment_id} is {attachment.status}; only a reserved attachment can be exported "
                "(or one exported to this same connector, again)",
                "ATTACHMENT_STATUS_INVALID", {"attachment_id": attachment_id, "status": attachment.status},
            )
        return Attachment.get_by_id(attachment_id), Volume.get_by_id(attachment.volume_id)


def store_export(attachment_id: str, connection_info: dict) -> Attachment | None:
    """Records the export of an attachment that still wants it (and that it
    no longer fails); None if the attachment moved on."""
    with write_transaction():
        updated = (
            Attachment.update(connection_info=connection_info, export_failed_at=None, status_detail="",
                              updated_at=utcnow())
            .where(Attachment.id == attachment_id, Attachment.status.in_(states.EXPORTED))
            .execute()
        )
        return Attachment.get_by_id(attachment_id) if updated else None


def release(attachment_id: str, error: EmberError) -> Attachment | None:
    """Gives back an attachment whose export failed before it was completed:
    the row goes, the volume is again what its other attachments make it,
    and the request that made the attachment keeps `error` for its retries.
    None when the attachment had moved on (completed, detaching or gone)."""
    with write_transaction():
        attachment = Attachment.get_or_none(Attachment.id == attachment_id)
        gone = attachment is not None and Attachment.delete().where(
            Attachment.id == attachment_id, Attachment.status.in_(states.PENDING)
        ).execute()
        if not gone:
            return None
        attachment_requests.record_failure(attachment_id, error)
        settle_volume(attachment.volume_id)
        return attachment


def complete(identity: Identity, attachment_id: str) -> Attachment:
    with write_transaction():
        attachment = get(identity, attachment_id)
        if attachment.status == states.ATTACHMENT_ATTACHED:
            return attachment
        now = utcnow()
        # Compare-and-set: a release of the same attachment may be racing this.
        done = attachment.connection_info and Attachment.update(
            status=states.ATTACHMENT_ATTACHED, attached_at=now, updated_at=now
        ).where(Attachment.id == attachment_id, Attachment.status == states.ATTACHMENT_ATTACHING).execute()
        if not done:
            raise FailedPrecondition(
                f"attachment {attachment_id} is {attachment.status}"
                f"{'' if attachment.connection_info else ' without an export'}; complete it after UpdateAttachment",
                "ATTACHMENT_STATUS_INVALID", {"attachment_id": attachment_id, "status": attachment.status},
            )
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


def on_host(host: str) -> list[Attachment]:
    """Every attachment this storage host serves, for its restart."""
    return list(Attachment.select().where(Attachment.host == host))
