"""The scheduler service as the runtime sees it: SchedulerService plus the
consumer of placement tasks, both over one live PoolView."""

from __future__ import annotations

from ember import startup, subjects
from ember.runtime import Runtime
from ember.v1 import scheduler_pb2_grpc
from scheduler.api import SchedulerApi
from scheduler.pool_view import PoolView
from scheduler.tasks import SchedulerTasks


class SchedulerService:
    name = "scheduler"

    def __init__(self, runtime: Runtime):
        self.view = PoolView(runtime.settings.service_down_after)
        self.api = SchedulerApi(self.view, runtime.settings)
        self.tasks = SchedulerTasks(runtime.bus, self.view, runtime.settings)

    def servicers(self):
        return [(scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server, self.api, "ember.v1.SchedulerService")]

    async def start(self, runtime: Runtime) -> None:
        await self.view.start(runtime.bus.js)
        await startup.sweep(runtime.bus, "scheduler", [startup.unplaced_volumes()])
        s = runtime.settings
        await runtime.bus.consume(
            subjects.SCHEDULER_TASKS, subjects.SCHEDULER_DURABLE, self.tasks.handle,
            ack_wait=s.task_ack_wait, max_deliver=s.task_max_deliver,
        )

    async def stop(self) -> None:
        await self.view.stop()
