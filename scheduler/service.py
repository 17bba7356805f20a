"""The scheduler service as the runtime sees it: SchedulerService plus the
consumer of placement tasks, both over one live PoolView."""

from __future__ import annotations

from ember import startup, subjects
from ember.lifecycle import Part, Step
from ember.runtime import Runtime
from ember.v1 import scheduler_pb2_grpc
from scheduler.api import SchedulerApi
from scheduler.pool_view import PoolView
from scheduler.tasks import SchedulerTasks


class SchedulerService:
    name = "scheduler"

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.view = PoolView(runtime.settings.service_down_after)
        self.api = SchedulerApi(self.view, runtime.settings)
        self.tasks = SchedulerTasks(runtime.bus, self.view, runtime.settings)

    def servicers(self):
        return [(scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server, self.api, "ember.v1.SchedulerService")]

    def parts(self) -> list[Part]:
        bus = self.runtime.bus
        return [
            Step("pool view", on_start=lambda: self.view.start(bus.js), on_stop=self.view.stop),
            Step("start-up sweep", on_start=lambda: startup.sweep(bus, "scheduler", [startup.unplaced_volumes()])),
            self.runtime.consumer(subjects.SCHEDULER_TASKS, subjects.SCHEDULER_DURABLE, self.tasks),
        ]
