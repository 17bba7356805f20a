"""VolumeService gRPC entrypoints for volumes (its attachment calls go on to
volume.attachment_api): validate, hand the work to the domain modules,
publish what the transaction queued, translate the answer."""

from __future__ import annotations

import asyncio
from typing import Callable

from ember import events, quota, started, states, validation, volume_tasks, volumes, watch, writer
from ember.bus import Bus
from ember.config import Settings
from ember.errors import InvalidArgument
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import volume_pb2, volume_pb2_grpc
from ember.volume_messages import ATTACHMENT_STATUS, STATUS, attachment_to_proto, to_proto
from volume import admin, deletion, extend, manager
from volume.attachment_api import AttachmentApi
from volume.attachment_keeper import announce_volume

VOLUME_STATUS_NAMES = {number: name for name, number in STATUS.items()}
ATTACHMENT_STATUS_NAMES = {number: name for name, number in ATTACHMENT_STATUS.items()}


def status_name(names: dict[int, str], value: int, field: str) -> str:
    if value not in names:
        raise InvalidArgument(field, f"must be one of {', '.join(sorted(names.values()))}")
    return names[value]


class VolumeApi(volume_pb2_grpc.VolumeServiceServicer):
    def __init__(
        self, settings: Settings, bus: Bus, secret: bytes, known_zones: Callable[[], set[str]],
        attachments: AttachmentApi,
    ):
        self.settings, self.bus, self.secret, self.known_zones = settings, bus, secret, known_zones
        self.attachments = attachments

    async def _answer(self, begun: started.Started):
        return await started.answer(self.bus, begun, volume_tasks.RESOURCE)

    async def CreateVolume(self, request, context):
        zone = request.availability_zone
        if zone and zone not in self.known_zones():
            known = ", ".join(sorted(self.known_zones())) or "none yet"
            raise InvalidArgument("availability_zone", f"unknown zone {zone!r}; known zones: {known}")
        copying = request.WhichOneof("source")
        new = volumes.NewVolume(
            size_gb=0 if copying and not request.size_gb else validation.size_gb(
                request.size_gb, self.settings.max_volume_size_gb),
            name=validation.text("name", request.name, validation.MAX_NAME),
            description=validation.text("description", request.description, validation.MAX_DESCRIPTION),
            metadata=validation.metadata(request.metadata),
            request_id=validation.request_id(request),
            volume_type=validation.text("volume_type", request.volume_type, validation.MAX_NAME),
            availability_zone=zone,
            source_snapshot_id=validation.uuid_field("source_snapshot_id", request.source_snapshot_id, required=False),
            source_volume_id=validation.uuid_field("source_volume_id", request.source_volume_id, required=False),
        )
        return await self._answer(await writer.run(
            volumes.create_volume, current_identity(), new, quota.defaults(self.settings),
            self.settings.outbox_retry_after,
        ))

    async def GetVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        return to_proto(await asyncio.to_thread(volumes.get_volume, current_identity(), volume_id))

    async def ListVolumes(self, request, context):
        size = page_size(request.page_size)
        rows, token = await asyncio.to_thread(
            manager.list_volumes, current_identity(), size, request.page_token, self.secret
        )
        return volume_pb2.ListVolumesResponse(volumes=[to_proto(r) for r in rows], next_page_token=token)

    async def UpdateVolume(self, request, context):
        volume_id = validation.uuid_field("volume.id", request.volume.id)
        fields, keys = validation.update_fields(request.volume, request.update_mask.paths, "volume")
        return to_proto(await writer.run(manager.update_volume, current_identity(), volume_id, fields, keys))

    async def DeleteVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        request_id = validation.request_id(request)
        return await self._answer(await writer.run(
            deletion.delete_volume, current_identity(), volume_id, request_id, request.cascade,
            self.settings.outbox_retry_after,
        ))

    async def ExtendVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        new_size = validation.size_gb(request.new_size_gb, self.settings.max_volume_size_gb, "new_size_gb")
        request_id = validation.request_id(request)
        return await self._answer(await writer.run(
            extend.extend_volume, current_identity(), volume_id, new_size, request_id, quota.defaults(self.settings),
            self.settings.outbox_retry_after,
        ))

    async def WatchVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        identity = current_identity()

        async def load():
            return await asyncio.to_thread(volumes.find_volume, identity, volume_id)

        async for row, _ in watch.watch(self.bus.js, volume_tasks.RESOURCE, volume_id, "volume", load,
                                        lambda v: v.status in states.STABLE):
            yield volume_pb2.WatchVolumeResponse(deleted=True) if row is None else \
                volume_pb2.WatchVolumeResponse(volume=to_proto(row))

    async def _admin_event(self, resource: str, resource_id: str, status: str, action: str) -> None:
        actor = current_identity()
        await events.announce(self.bus, resource, resource_id, status, extra={
            "admin_action": action, "by": f"{actor.user_id}@{actor.project_id}"})

    async def ResetVolumeStatus(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        status = status_name(VOLUME_STATUS_NAMES, request.status, "status")
        row = await writer.run(admin.reset_volume_status, volume_id, status)
        await self._admin_event(volume_tasks.RESOURCE, volume_id, status, "reset_status")
        return to_proto(row)

    async def ResetAttachmentStatus(self, request, context):
        attachment_id = validation.uuid_field("attachment_id", request.attachment_id)
        status = status_name(ATTACHMENT_STATUS_NAMES, request.status, "status")
        row = await writer.run(admin.reset_attachment_status, attachment_id, status)
        await self._admin_event(volume_tasks.ATTACHMENTS, attachment_id, status, "reset_status")
        await announce_volume(self.bus, row.volume_id)
        return attachment_to_proto(row)

    async def ForceDeleteVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        begun = await writer.run(deletion.force_delete, current_identity(), volume_id, self.settings.outbox_retry_after)
        await self._admin_event(volume_tasks.RESOURCE, volume_id, states.DELETING, "force_delete")
        return await self._answer(begun)

    async def CreateAttachment(self, request, context):
        return await self.attachments.CreateAttachment(request, context)

    async def UpdateAttachment(self, request, context):
        return await self.attachments.UpdateAttachment(request, context)

    async def CompleteAttachment(self, request, context):
        return await self.attachments.CompleteAttachment(request, context)

    async def GetAttachment(self, request, context):
        return await self.attachments.GetAttachment(request, context)

    async def ListAttachments(self, request, context):
        return await self.attachments.ListAttachments(request, context)

    async def DeleteAttachment(self, request, context):
        return await self.attachments.DeleteAttachment(request, context)

    async def ForceDetach(self, request, context):
        return await self.attachments.ForceDetach(request, context)
