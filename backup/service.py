"""The backup service as the runtime sees it: its BackupService API, its
share of the backup tasks (any number of instances compete for them) and
the repository and volume hosts those tasks use."""

from __future__ import annotations

import asyncio
import pathlib

from backup.api import BackupApi
from backup.hosts import VolumeHosts
from backup.repository import Repository
from backup.tasks import BackupTasks
from ember import metrics, startup, subjects
from ember.directory import Directory
from ember.runtime import Runtime
from ember.v1 import backup_pb2_grpc

# The tasks whose bytes per second the metrics report.
METERED_VERBS = ("backup", "restore", "verify_backup")


def repository_path(settings) -> pathlib.Path:
    return pathlib.Path(settings.backup_repository) if settings.backup_repository else settings.data_path / "backups"


class BackupService:
    name = "backup"

    def __init__(self, runtime: Runtime):
        settings = runtime.settings
        self.runtime = runtime
        self.repo = Repository(repository_path(settings))
        self.directory = Directory(settings.registry_ttl, settings.max_message_bytes)
        self.hosts = VolumeHosts(self.directory, runtime.secret, settings.host)
        self.api = BackupApi(settings, runtime.bus, runtime.secret, self.repo)
        self.registry_extra = {"host": settings.host, "repository": str(self.repo.root)}
        self._rate: asyncio.Task | None = None

    def servicers(self):
        return [(backup_pb2_grpc.add_BackupServiceServicer_to_server, self.api, "ember.v1.BackupService")]

    async def start(self, runtime: Runtime) -> None:
        s = runtime.settings
        await self.directory.start(runtime.bus.js)
        await startup.sweep(runtime.bus, "backup service", startup.backup_scopes())
        tasks = BackupTasks(runtime.bus, self.repo, self.hosts, s)
        await runtime.bus.consume(
            subjects.BACKUP_TASKS, subjects.BACKUP_DURABLE, tasks.handle, ack_wait=s.task_ack_wait,
            max_deliver=s.task_max_deliver, concurrency=s.backup_tasks,
        )
        self._rate = asyncio.create_task(metrics.sample_backup_rate(METERED_VERBS))

    async def stop(self) -> None:
        if self._rate:
            self._rate.cancel()
            await asyncio.gather(self._rate, return_exceptions=True)
        await self.directory.stop()
        self.repo.close()
