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
from ember.lifecycle import Part, Step
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
        self.directory = Directory(settings.registry_ttl)
        self.internal = runtime.internal_client(self.directory)
        self.hosts = VolumeHosts(self.internal, settings.host)
        self.api = BackupApi(settings, runtime.bus, runtime.secret, self.repo)
        self.registry_extra = {"repository": str(self.repo.root)}
        self.tasks = BackupTasks(runtime.bus, self.repo, self.hosts, settings)

    def servicers(self):
        return [(backup_pb2_grpc.add_BackupServiceServicer_to_server, self.api, "ember.v1.BackupService")]

    def parts(self) -> list[Part]:
        runtime, s = self.runtime, self.runtime.settings
        return [
            Step("directory", on_start=lambda: self.directory.start(runtime.bus.js), on_stop=self.directory.stop),
            Step("internal channels", on_stop=self.internal.close),
            Step("repository", on_stop=lambda: asyncio.to_thread(self.repo.close)),
            Step("start-up sweep", on_start=lambda: startup.sweep(runtime.bus, "backup service",
                                                                  startup.backup_scopes())),
            runtime.consumer(subjects.BACKUP_TASKS, subjects.BACKUP_DURABLE, self.tasks, concurrency=s.backup_tasks),
            metrics.backup_rate_sampler(METERED_VERBS),
        ]
