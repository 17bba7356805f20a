"""VolumeService's attachment entrypoints (VolumeApi hands them here): validate,
step the attachment through the database, and on the volume's own host (the
gateway routes there) export or unexport the volume between the steps."""

from __future__ import annotations

import asyncio
import logging

from ember import failpoints, states, validation, writer
from ember.bus import Bus
from ember.db import Attachment
from ember.errors import EmberError, FailedPrecondition, InvalidArgument, Unavailable
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import attachment_pb2
from ember.volume_messages import attachment_to_proto
from volume import attachments
from volume.attachment_keeper import AttachmentKeeper, announce_volume
from volume.exports import Exports

log = logging.getLogger(__name__)

TRANSPORTS = ("local", "nbd")
MODE_NAMES = {attachment_pb2.ATTACH_MODE_UNSPECIFIED: "rw", attachment_pb2.ATTACH_MODE_RW: "rw",
              attachment_pb2.ATTACH_MODE_RO: "ro"}


def connector_of(message: attachment_pb2.Connector) -> dict:
    if not message.host:
        raise InvalidArgument("connector.host", "is required: the compute host's name")
    unknown = [t for t in message.transports if t not in TRANSPORTS]
    if unknown or not message.transports:
        raise InvalidArgument("connector.transports", f"list one or more of {', '.join(TRANSPORTS)}")
    for field in ("host", "ip", "initiator"):
        validation.text(f"connector.{field}", getattr(message, field), validation.MAX_NAME)
    return {"host": message.host, "ip": message.ip, "initiator": message.initiator,
            "transports": list(message.transports)}


def mode_of(mode: int) -> str:
    if mode not in MODE_NAMES:
        raise InvalidArgument("mode", f"unknown attach mode {mode}")
    return MODE_NAMES[mode]


class AttachmentApi:
    """The attachments of volumes, served by the storage host `host`."""

    def __init__(self, host: str, bus: Bus, secret: bytes, exports: Exports, keeper: AttachmentKeeper):
        self.host, self.bus, self.secret, self.exports, self.keeper = host, bus, secret, exports, keeper

    async def _announce(self, volume_id: str) -> None:
        await announce_volume(self.bus, volume_id)

    def _here(self, attachment) -> None:
        if attachment.host != self.host:
            raise Unavailable(
                f"attachment {attachment.id} is served by storage host {attachment.host}, not {self.host}; "
                "call it through the gateway", "WRONG_STORAGE_HOST", {"host": attachment.host},
            )

    async def _export(self, attachment: Attachment, connector: dict) -> Attachment:
        """Exports a reserved attachment to the connector (or one exported to
        it before, again); an attachment whose export fails is given back."""
        transport = self.exports.choose(connector)
        self._here(attachment)
        attachment, volume = await writer.run(attachments.begin_export, current_identity(), attachment.id, connector)
        failpoints.hit("volume.attach.before_export")
        try:
            info = await asyncio.to_thread(self.exports.export, attachment, volume, transport)
        except Exception as exc:
            raise await self._export_failed(attachment, f"storage host {self.host} could not export "
                                                        f"volume {volume.id}: {exc}")
        failpoints.hit("volume.attach.after_export")
        stored = await writer.run(attachments.store_export, attachment.id, info)
        if stored is None:
            await asyncio.to_thread(self.exports.unexport, attachment)
            raise FailedPrecondition(f"attachment {attachment.id} was deleted while it was being exported",
                                     "ATTACHMENT_GONE", {"attachment_id": attachment.id})
        await self._announce(volume.id)
        return stored

    async def _export_failed(self, attachment: Attachment, why: str) -> EmberError:
        """Gives back an attachment not completed yet (nothing of it is left,
        and its request keeps the error); one already attached keeps its
        place and is marked failed, for the keeper to retry."""
        metadata = {"attachment_id": attachment.id, "volume_id": attachment.volume_id}
        if attachment.status == states.ATTACHMENT_ATTACHED:
            await self.keeper.failed(attachment.id, why)
            return Unavailable(f"{why}; attachment {attachment.id} stays attached and its storage host keeps trying",
                               "EXPORT_FAILED", metadata)
        error = Unavailable(f"{why}; attachment {attachment.id} was released, so nothing holds the volume: "
                            "attach again once that is fixed", "EXPORT_FAILED", metadata)
        await self.keeper.give_back(attachment, error)
        return error

    async def CreateAttachment(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id)
        if not request.instance_id:
            raise InvalidArgument("instance_id", "is required")
        instance_id = validation.text("instance_id", request.instance_id, validation.MAX_NAME)
        mode = mode_of(request.mode)
        request_id = validation.request_id(request)
        connector = connector_of(request.connector) if request.HasField("connector") else None
        if connector:
            self.exports.choose(connector)
        await self.keeper.retry_volume(volume_id)
        reserve = (attachments.reserve, current_identity(), volume_id, instance_id, mode, request_id)
        reserved = await writer.run(*reserve)
        attachment = reserved.attachment
        if not reserved.replayed:
            await self._announce(volume_id)
        if connector and not attachment.connection_info:
            try:
                attachment = await self._export(attachment, connector)
            except EmberError as error:
                # A call with the same request_id that failed or was deleted meanwhile: its outcome.
                if request_id and error.reason in ("ATTACHMENT_GONE", "ATTACHMENT_NOT_FOUND"):
                    attachment = (await writer.run(*reserve)).attachment
                else:
                    raise
        return attachment_to_proto(attachment)

    async def UpdateAttachment(self, request, context):
        attachment_id = validation.uuid_field("attachment_id", request.attachment_id)
        if not request.HasField("connector"):
            raise InvalidArgument("connector", "is required")
        connector = connector_of(request.connector)
        attachment = await asyncio.to_thread(attachments.get, current_identity(), attachment_id)
        return attachment_to_proto(await self._export(attachment, connector))

    async def CompleteAttachment(self, request, context):
        attachment_id = validation.uuid_field("attachment_id", request.attachment_id)
        attachment = await asyncio.to_thread(attachments.get, current_identity(), attachment_id)
        # With its storage host away, any instance completes it in the database.
        if attachment.host == self.host and not await self.keeper.restore(attachment_id):
            failing = await asyncio.to_thread(attachments.get, current_identity(), attachment_id)
            raise Unavailable(
                f"the export of attachment {attachment_id} cannot be served ({failing.status_detail}); its storage "
                "host keeps trying: complete it again later, or delete it",
                "EXPORT_FAILED", {"attachment_id": attachment_id, "volume_id": attachment.volume_id},
            )
        attachment = await writer.run(attachments.complete, current_identity(), attachment_id)
        await self._announce(attachment.volume_id)
        return attachment_to_proto(attachment)

    async def GetAttachment(self, request, context):
        attachment_id = validation.uuid_field("id", request.id)
        return attachment_to_proto(await asyncio.to_thread(attachments.get, current_identity(), attachment_id))

    async def ListAttachments(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id, required=False)
        rows, token = await asyncio.to_thread(
            attachments.list_attachments, current_identity(), volume_id, page_size(request.page_size),
            request.page_token, self.secret,
        )
        return attachment_pb2.ListAttachmentsResponse(
            attachments=[attachment_to_proto(r) for r in rows], next_page_token=token
        )

    async def _remove(self, attachment_id: str, force: bool) -> None:
        attachment = await asyncio.to_thread(attachments.get, current_identity(), attachment_id, force)
        here = attachment.host == self.host
        if not (here or force):
            self._here(attachment)
        attachment = await writer.run(attachments.begin_delete, current_identity(), attachment_id, force)
        await self._announce(attachment.volume_id)
        if here:
            await asyncio.to_thread(self.exports.unexport, attachment)
        else:
            log.warning("force-detached %s while host %s is away; it drops the export when it returns",
                        attachment_id, attachment.host)
        failpoints.hit("volume.detach.after_unexport")
        await writer.run(attachments.finish_delete, attachment_id)
        await self._announce(attachment.volume_id)

    async def DeleteAttachment(self, request, context):
        await self._remove(validation.uuid_field("attachment_id", request.attachment_id), force=False)
        return attachment_pb2.DeleteAttachmentResponse()

    async def ForceDetach(self, request, context):
        await self._remove(validation.uuid_field("attachment_id", request.attachment_id), force=True)
        return attachment_pb2.ForceDetachResponse()
