"""SnapshotService gRPC entrypoints: validate, run volume.snapshots, publish
what the transaction queued, translate the answer."""

from __future__ import annotations

import asyncio

from ember import events, quota, started, states, validation, volume_tasks, watch, writer
from ember.bus import Bus
from ember.config import Settings
from ember.db import Snapshot
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import snapshot_pb2, snapshot_pb2_grpc
from ember.volume_messages import SNAPSHOT_STATUS, snapshot_to_proto
from volume import snapshots
from volume.api import status_name


SNAPSHOT_STATUS_NAMES = {number: name for name, number in SNAPSHOT_STATUS.items()}
SNAPSHOT_STABLE = frozenset({states.AVAILABLE, states.ERROR, states.ERROR_DELETING})


class SnapshotApi(snapshot_pb2_grpc.SnapshotServiceServicer):
    def __init__(self, settings: Settings, bus: Bus, secret: bytes):
        self.settings, self.bus, self.secret = settings, bus, secret

    async def CreateSnapshot(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id)
        fields = {
            "name": validation.text("name", request.name, validation.MAX_NAME),
            "description": validation.text("description", request.description, validation.MAX_DESCRIPTION),
            "metadata": validation.metadata(request.metadata),
        }
        request_id = validation.request_id(request)
        begun = await writer.run(
            snapshots.create, current_identity(), volume_id, fields, request.force, request_id,
            quota.defaults(self.settings), self.settings.outbox_retry_after,
        )
        return await started.answer(self.bus, begun, volume_tasks.SNAPSHOTS)

    async def GetSnapshot(self, request, context):
        snapshot_id = validation.uuid_field("id", request.id)
        return snapshot_to_proto(await asyncio.to_thread(snapshots.get, current_identity(), snapshot_id))

    async def ListSnapshots(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id, required=False)
        rows, token = await asyncio.to_thread(
            snapshots.list_snapshots, current_identity(), volume_id, page_size(request.page_size),
            request.page_token, self.secret,
        )
        return snapshot_pb2.ListSnapshotsResponse(snapshots=[snapshot_to_proto(r) for r in rows], next_page_token=token)

    async def UpdateSnapshot(self, request, context):
        snapshot_id = validation.uuid_field("snapshot.id", request.snapshot.id)
        fields, keys = validation.update_fields(request.snapshot, request.update_mask.paths, "snapshot")
        return snapshot_to_proto(await writer.run(snapshots.update, current_identity(), snapshot_id, fields, keys))

    async def DeleteSnapshot(self, request, context):
        snapshot_id = validation.uuid_field("id", request.id)
        request_id = validation.request_id(request)
        begun = await writer.run(
            snapshots.delete, current_identity(), snapshot_id, request_id, self.settings.outbox_retry_after
        )
        return await started.answer(self.bus, begun, volume_tasks.SNAPSHOTS)

    async def WatchSnapshot(self, request, context):
        snapshot_id = validation.uuid_field("id", request.id)
        load = watch.owned(Snapshot, snapshot_id, current_identity().project_id)
        async for row, _ in watch.watch(self.bus.js, volume_tasks.SNAPSHOTS, snapshot_id, "snapshot", load,
                                        lambda s: s.status in SNAPSHOT_STABLE):
            yield snapshot_pb2.WatchSnapshotResponse(deleted=True) if row is None else \
                snapshot_pb2.WatchSnapshotResponse(snapshot=snapshot_to_proto(row))

    async def ResetSnapshotStatus(self, request, context):
        snapshot_id = validation.uuid_field("id", request.id)
        status = status_name(SNAPSHOT_STATUS_NAMES, request.status, "status")
        row = await writer.run(snapshots.reset_status, snapshot_id, status)
        actor = current_identity()
        await events.announce(self.bus, volume_tasks.SNAPSHOTS, snapshot_id, status, extra={
            "admin_action": "reset_status", "by": f"{actor.user_id}@{actor.project_id}"})
        return snapshot_to_proto(row)
