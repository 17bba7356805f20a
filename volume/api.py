"""VolumeService gRPC entrypoints for volumes (attachments come from
volume.attachment_api): validate, hand the work to volume.manager, publish
what the transaction queued, translate the answer."""

from __future__ import annotations

import asyncio
from typing import Callable

from ember import events, failpoints, messages, operations, outbox, quota, volume_tasks, writer
from ember.bus import Bus
from ember.config import Settings
from ember.errors import InvalidArgument
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import volume_pb2, volume_pb2_grpc
from volume import manager, validation
from volume.attachment_api import AttachmentEndpoints
from volume.convert import to_proto
from volume.exports import Exports

UPDATABLE = ("name", "description", "metadata")


class VolumeApi(AttachmentEndpoints, volume_pb2_grpc.VolumeServiceServicer):
    def __init__(
        self, settings: Settings, bus: Bus, secret: bytes, known_zones: Callable[[], set[str]], exports: Exports
    ):
        self.settings, self.bus, self.secret, self.known_zones = settings, bus, secret, known_zones
        self.exports = exports

    async def _started(self, started: manager.Started):
        op = started.operation
        if started.task is not None:
            failpoints.hit("volume.api.before_publish")
            await outbox.publish(self.bus, started.task)
        elif started.finished_status:
            await events.announce(self.bus, volume_tasks.RESOURCE, op.target, started.finished_status, op.id)
        return operations.to_proto(op)

    async def CreateVolume(self, request, context):
        zone = request.availability_zone
        if zone and zone not in self.known_zones():
            known = ", ".join(sorted(self.known_zones())) or "none yet"
            raise InvalidArgument("availability_zone", f"unknown zone {zone!r}; known zones: {known}")
        new = manager.NewVolume(
            size_gb=validation.size_gb(request.size_gb, self.settings.max_volume_size_gb),
            name=validation.text("name", request.name, validation.MAX_NAME),
            description=validation.text("description", request.description, validation.MAX_DESCRIPTION),
            metadata=validation.metadata(request.metadata),
            request_id=validation.uuid_field("request_id", request.request_id, required=False),
            volume_type=validation.text("volume_type", request.volume_type, validation.MAX_NAME),
            availability_zone=zone,
        )
        started = await writer.run(
            manager.create_volume, current_identity(), new, quota.defaults(self.settings),
            self.settings.outbox_retry_after,
        )
        return await self._started(started)

    async def GetVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        return to_proto(await asyncio.to_thread(manager.get_volume, current_identity(), volume_id))

    async def ListVolumes(self, request, context):
        size = page_size(request.page_size)
        rows, token = await asyncio.to_thread(
            manager.list_volumes, current_identity(), size, request.page_token, self.secret
        )
        return volume_pb2.ListVolumesResponse(volumes=[to_proto(r) for r in rows], next_page_token=token)

    async def UpdateVolume(self, request, context):
        volume_id = validation.uuid_field("volume.id", request.volume.id)
        fields = {}
        for path in messages.masked_fields(request.update_mask.paths, request.volume, UPDATABLE):
            if path == "metadata":
                fields[path] = validation.metadata(request.volume.metadata)
            else:
                limit = validation.MAX_NAME if path == "name" else validation.MAX_DESCRIPTION
                fields[path] = validation.text(f"volume.{path}", getattr(request.volume, path), limit)
        row = await writer.run(manager.update_volume, current_identity(), volume_id, fields)
        return to_proto(row)

    async def DeleteVolume(self, request, context):
        volume_id = validation.uuid_field("id", request.id)
        request_id = validation.uuid_field("request_id", request.request_id, required=False)
        started = await writer.run(
            manager.delete_volume, current_identity(), volume_id, request_id, self.settings.outbox_retry_after
        )
        return await self._started(started)
