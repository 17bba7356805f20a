"""The gateway as the runtime sees it: Operations and Status served here,
every routed service proxied, reflection for all public services, health
per service."""

from __future__ import annotations

import asyncio

from google.longrunning import operations_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from ember.runtime import Runtime
from ember.v1 import backup_pb2, quota_pb2, scheduler_pb2, snapshot_pb2, status_pb2_grpc, volume_pb2, volume_type_pb2
from ember.directory import Directory
from api_gateway.operations import Completions, OperationsApi
from api_gateway.parsing import ParsedInCall, add_parsed_in_call
from api_gateway.proxy import PUBLIC_SERVICES, ROUTES, Proxy
from api_gateway.status import StatusApi

OPERATIONS_SERVICE = "google.longrunning.Operations"
STATUS_SERVICE = "ember.v1.StatusService"
# Imported for their descriptors: reflection describes the messages and the
# error details (ErrorInfo, BadRequest) that clients will receive.
DESCRIBED = (volume_pb2, snapshot_pb2, volume_type_pb2, quota_pb2, scheduler_pb2, backup_pb2, error_details_pb2)


class GatewayService:
    name = "gateway"

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.directory = Directory(runtime.settings.registry_ttl, runtime.settings.max_message_bytes)
        self.completions = Completions()
        self.operations = OperationsApi(self.completions, runtime.secret)
        self.status = StatusApi(self.directory, runtime.bus, runtime.database,
                                runtime.settings.resolved_database_url, runtime.settings.registry_ttl)
        self._health_task: asyncio.Task | None = None

    def servicers(self):
        return [
            (add_parsed_in_call(operations_pb2_grpc.add_OperationsServicer_to_server), self.operations,
             OPERATIONS_SERVICE),
            (add_parsed_in_call(status_pb2_grpc.add_StatusServiceServicer_to_server), self.status, STATUS_SERVICE),
        ]

    def configure_server(self, server) -> None:
        server.add_generic_rpc_handlers(
            [ParsedInCall(Proxy(self.directory, self.runtime.secret, self.runtime.settings.call_timeout))]
        )
        reflection.enable_server_reflection(
            (*PUBLIC_SERVICES, OPERATIONS_SERVICE, STATUS_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME),
            server
        )

    async def start(self, runtime: Runtime) -> None:
        await self.directory.start(runtime.bus.js)
        await self.completions.start(runtime.bus.nc)
        await self._update_health()
        self._health_task = asyncio.create_task(self._follow_health())

    async def _update_health(self) -> None:
        """A routed service is SERVING while at least one instance heartbeats."""
        for prefix, service in ROUTES.items():
            serving = bool(self.directory.addresses(service))
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            await self.runtime.health.set(prefix.strip("/"), status)

    async def _follow_health(self) -> None:
        changed = self.directory.mirror.changed
        while True:
            try:
                await asyncio.wait_for(changed.wait(), self.runtime.settings.registry_ttl / 3)
            except asyncio.TimeoutError:
                pass
            changed.clear()
            await self._update_health()

    async def stop(self) -> None:
        if self._health_task:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
        await self.completions.stop()
        await self.directory.stop()
