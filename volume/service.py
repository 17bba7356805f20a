"""The volume service as the runtime sees it: its API servicer, its host's task
consumer, its capacity reporter and the outbox reconciler."""

from __future__ import annotations

from ember import subjects, volume_tasks
from ember.db import Operation
from ember.errors import EmberError
from ember.outbox import Reconciler
from ember.runtime import Runtime
from ember.v1 import volume_pb2_grpc
from volume.api import VolumeApi
from volume.drivers.file import FileDriver
from volume.host_tasks import HostTasks
from volume.reporter import CapacityReporter


class VolumeService:
    name = "volume"

    def __init__(self, runtime: Runtime):
        settings = runtime.settings
        self.runtime = runtime
        pools = [p.strip() for p in settings.pools.split(",") if p.strip()]
        self.driver = FileDriver(settings.data_path / "pools", pools, settings.pool_capacity_gb)
        self.api = VolumeApi(settings, runtime.bus, runtime.secret)
        self.reporter = CapacityReporter(settings, self.driver)
        self.reconciler = Reconciler(
            runtime.bus, settings.outbox_retry_after, settings.task_deadline, self._expire
        )

    def servicers(self):
        return [(volume_pb2_grpc.add_VolumeServiceServicer_to_server, self.api, "ember.v1.VolumeService")]

    async def start(self, runtime: Runtime) -> None:
        s = runtime.settings
        tasks = HostTasks(runtime.bus, self.driver, s.outbox_retry_after, self.reporter.poke)
        await runtime.bus.consume(
            subjects.volume_tasks(s.host), subjects.volume_durable(s.host), tasks.handle,
            ack_wait=s.task_ack_wait, max_deliver=s.task_max_deliver,
        )
        await self.reporter.start(runtime.bus.js)
        self.reconciler.start()

    async def _expire(self, row: Operation) -> None:
        payload = row.task_payload
        error = EmberError(
            f"{payload['verb']} did not finish within {self.runtime.settings.task_deadline:.0f}s "
            f"(last sent to {row.task_subject})",
            "TASK_DEADLINE_EXCEEDED",
        )
        await volume_tasks.fail(self.runtime.bus, row.id, payload["volume_id"], payload["verb"], error)

    async def stop(self) -> None:
        await self.reconciler.stop()
        await self.reporter.stop()

