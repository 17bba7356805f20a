"""BackupService gRPC entrypoints: validate, run backup.records, publish
what the transaction queued, translate the answer; WatchBackup streams a
backup's status and the bytes its running task has moved."""

from __future__ import annotations

import asyncio

from backup import records
from backup.convert import to_proto
from backup.repository import Repository
from ember import events, quota, started, states, validation, volume_tasks, volumes, watch, writer
from ember.bus import Bus
from ember.config import Settings
from ember.db import Backup
from ember.errors import InvalidArgument
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import backup_pb2, backup_pb2_grpc

BACKUP_STABLE = frozenset({states.AVAILABLE, states.ERROR, states.ERROR_DELETING})


class BackupApi(backup_pb2_grpc.BackupServiceServicer):
    def __init__(self, settings: Settings, bus: Bus, secret: bytes, repo: Repository):
        self.settings, self.bus, self.secret, self.repo = settings, bus, secret, repo

    async def _answer(self, begun: started.Started, resource: str = volume_tasks.BACKUPS):
        return await started.answer(self.bus, begun, resource)

    async def CreateBackup(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id)
        fields = {
            "name": validation.text("name", request.name, validation.MAX_NAME),
            "description": validation.text("description", request.description, validation.MAX_DESCRIPTION),
            "metadata": validation.metadata(request.metadata),
        }
        request_id = validation.request_id(request)
        return await self._answer(await writer.run(
            records.create, current_identity(), volume_id, fields, request.incremental, request.force, request_id,
            quota.defaults(self.settings), self.settings.outbox_retry_after,
        ))

    async def GetBackup(self, request, context):
        backup_id = validation.uuid_field("id", request.id)
        return to_proto(await asyncio.to_thread(records.get, current_identity(), backup_id))

    async def ListBackups(self, request, context):
        volume_id = validation.uuid_field("volume_id", request.volume_id, required=False)
        rows, token = await asyncio.to_thread(
            records.list_backups, current_identity(), volume_id, page_size(request.page_size), request.page_token,
            self.secret,
        )
        return backup_pb2.ListBackupsResponse(backups=[to_proto(r) for r in rows], next_page_token=token)

    async def UpdateBackup(self, request, context):
        backup_id = validation.uuid_field("backup.id", request.backup.id)
        fields, keys = validation.update_fields(request.backup, request.update_mask.paths, "backup")
        return to_proto(await writer.run(records.update, current_identity(), backup_id, fields, keys))

    async def DeleteBackup(self, request, context):
        backup_id = validation.uuid_field("id", request.id)
        request_id = validation.request_id(request)
        return await self._answer(await writer.run(
            records.delete, current_identity(), backup_id, request_id, self.settings.outbox_retry_after,
        ))

    async def RestoreBackup(self, request, context):
        backup_id = validation.uuid_field("backup_id", request.backup_id)
        volume_id = validation.uuid_field("volume_id", request.volume_id, required=False)
        if volume_id and (request.name or request.volume_type or request.availability_zone):
            raise InvalidArgument("volume_id", "name, volume_type and availability_zone are for a new volume; "
                                               "leave them empty when restoring onto an existing one")
        new = volumes.NewVolume(
            size_gb=0,
            name=validation.text("name", request.name, validation.MAX_NAME),
            request_id=validation.request_id(request),
            volume_type=validation.text("volume_type", request.volume_type, validation.MAX_NAME),
            availability_zone=request.availability_zone,
        )
        return await self._answer(await writer.run(
            records.restore, current_identity(), backup_id, volume_id, new, quota.defaults(self.settings),
            self.settings.outbox_retry_after,
        ), volume_tasks.RESOURCE)

    async def VerifyBackup(self, request, context):
        backup_id = validation.uuid_field("id", request.id)
        return await self._answer(await writer.run(
            records.verify, current_identity(), backup_id, self.settings.outbox_retry_after,
        ))

    async def ExportBackupRecord(self, request, context):
        backup_id = validation.uuid_field("id", request.id)
        url = await asyncio.to_thread(records.export_record, current_identity(), backup_id)
        return backup_pb2.BackupRecord(backup_service=records.RECORD_SERVICE, backup_url=url)

    async def ImportBackupRecord(self, request, context):
        if request.backup_service not in ("", records.RECORD_SERVICE):
            raise InvalidArgument("backup_service", f"this Ember reads records of {records.RECORD_SERVICE!r}, "
                                                    f"not {request.backup_service!r}")
        if not request.backup_url:
            raise InvalidArgument("backup_url", "the backup_url of an ExportBackupRecord answer is required")
        row = await writer.run(records.import_record, current_identity(), request.backup_url,
                               self.repo.has_manifest, quota.defaults(self.settings))
        await events.announce(self.bus, volume_tasks.BACKUPS, row.id, row.status)
        return to_proto(row)

    async def WatchBackup(self, request, context):
        backup_id = validation.uuid_field("id", request.id)
        load = watch.owned(Backup, backup_id, current_identity().project_id)
        async for row, progress in watch.watch(self.bus.js, volume_tasks.BACKUPS, backup_id, "backup", load,
                                               lambda b: b.status in BACKUP_STABLE):
            if row is None:
                yield backup_pb2.WatchBackupResponse(deleted=True)
            elif progress:
                yield backup_pb2.WatchBackupResponse(backup=to_proto(row), bytes_done=progress["bytes_done"],
                                                     bytes_total=progress["bytes_total"])
            else:
                yield backup_pb2.WatchBackupResponse(backup=to_proto(row))
