"""The gateway as the runtime sees it: Operations and Status served here,
every routed service proxied, reflection for all public services, health
per service."""

from __future__ import annotations

from google.longrunning import operations_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from ember.lifecycle import Part, Step
from ember.periodic import Periodic
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
        self.directory = Directory(runtime.settings.registry_ttl)
        self.internal = runtime.internal_client(self.directory)
        # Other gateways' status checks must know how this one's public port speaks.
        self.registry_extra = {"public_tls": bool(runtime.settings.public_tls_cert)}
        self.completions = Completions()
        self.operations = OperationsApi(self.completions, runtime.secret)
        self.status = StatusApi(self.internal, runtime.bus, runtime.database,
                                runtime.settings.resolved_database_url, runtime.settings.registry_ttl,
                                runtime.settings.service_down_after)

    def servicers(self):
        return [
            (add_parsed_in_call(operations_pb2_grpc.add_OperationsServicer_to_server), self.operations,
             OPERATIONS_SERVICE),
            (add_parsed_in_call(status_pb2_grpc.add_StatusServiceServicer_to_server), self.status, STATUS_SERVICE),
        ]

    def configure_server(self, server) -> None:
        server.add_generic_rpc_handlers(
            [ParsedInCall(Proxy(self.internal, self.runtime.settings.call_timeout))]
        )
        reflection.enable_server_reflection(
            (*PUBLIC_SERVICES, OPERATIONS_SERVICE, STATUS_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME),
            server
        )

    def parts(self) -> list[Part]:
        runtime = self.runtime
        return [
            Step("directory", on_start=lambda: self.directory.start(runtime.bus.js), on_stop=self.directory.stop),
            Step("internal channels", on_stop=self.internal.close),
            Step("mirror of capacity reports", on_start=lambda: self.status.start(runtime.bus.js),
                 on_stop=self.status.stop),
            Step("completions", on_start=lambda: self.completions.start(runtime.bus.nc), on_stop=self.completions.stop),
            Step("health of routed services", on_start=self._update_health),
            # Changes come through the registry's mirror; the timer catches
            # services that went silent, which change nothing in it.
            Periodic("following routed services' health", runtime.settings.registry_ttl / 3, self._update_health,
                     wake=self.directory.changed),
        ]

    async def _update_health(self) -> None:
        """A routed service is SERVING while at least one instance heartbeats."""
        for prefix, service in ROUTES.items():
            serving = bool(self.directory.addresses(service))
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            await self.runtime.health.set(prefix.strip("/"), status)
