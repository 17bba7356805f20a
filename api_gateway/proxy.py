"""Forwarding: any unary call to a routed service goes, bytes untouched, to
one of its instances with the caller's identity signed into the metadata and
the deadline clamped; the upstream status comes back as it was."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import descriptor_pool

from ember import auth, failpoints, logs
from ember.errors import PermissionDenied
from ember.grpc_server import current_identity
from ember.directory import Directory
from api_gateway.host_routes import ANY_HOST_WHEN_DOWN, HOST_ROUTED, storage_host

STREAM_TIMEOUT = 3600.0
# Instances a call is offered to when the ones before could not be reached.
MAX_TRIES = 4
ROUTES = {
    "/ember.v1.VolumeService/": "volume",
    "/ember.v1.SnapshotService/": "volume",
    "/ember.v1.VolumeTypeService/": "volume",
    "/ember.v1.QuotaService/": "volume",
    "/ember.v1.SchedulerService/": "scheduler",
    "/ember.v1.BackupService/": "backup",
}
ADMIN_ONLY = {
    "/ember.v1.SchedulerService/ListPools",
    "/ember.v1.VolumeService/ForceDetach",
    "/ember.v1.VolumeService/ResetVolumeStatus",
    "/ember.v1.VolumeService/ResetAttachmentStatus",
    "/ember.v1.VolumeService/ForceDeleteVolume",
    "/ember.v1.SnapshotService/ResetSnapshotStatus",
    "/ember.v1.BackupService/ExportBackupRecord",
    "/ember.v1.BackupService/ImportBackupRecord",
    "/ember.v1.VolumeTypeService/CreateVolumeType",
    "/ember.v1.VolumeTypeService/UpdateVolumeType",
    "/ember.v1.VolumeTypeService/DeleteVolumeType",
    "/ember.v1.QuotaService/UpdateQuota",
}
PUBLIC_SERVICES = tuple(prefix.strip("/") for prefix in ROUTES)


def route(method: str) -> str | None:
    for prefix, service in ROUTES.items():
        if method.startswith(prefix):
            return service
    return None


def clamp_timeout(remaining: float | None, limit: float) -> float:
    # With no client deadline grpc reports a huge remaining time, never None.
    if remaining is None or remaining <= 0 or remaining > limit:
        return limit
    return remaining


class Proxy(grpc.GenericRpcHandler):
    def __init__(self, directory: Directory, secret: bytes, call_timeout: float):
        self.directory, self.secret, self.call_timeout = directory, secret, call_timeout

    def service(self, handler_call_details):
        method = handler_call_details.method
        service = route(method)
        if service is None:
            return None
        if streams(method):

            async def forward_stream(request: bytes, context: grpc.aio.ServicerContext):
                async for response in self.forward_stream(service, method, request, context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(forward_stream)

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self.forward(service, method, request, context)

        return grpc.unary_unary_rpc_method_handler(forward)

    async def _target(self, service: str, method: str, request: bytes) -> tuple[str, tuple]:
        """The storage host the call must reach ('' for any), and the metadata it carries."""
        identity = current_identity()
        if method in ADMIN_ONLY and not identity.is_admin:
            raise PermissionDenied(f"{method.rsplit('/', 1)[1]} needs the admin role", metadata={"method": method})
        host = await asyncio.to_thread(storage_host, method, request) if method in HOST_ROUTED else ""
        if host and method in ANY_HOST_WHEN_DOWN and not self.directory.addresses(service, host):
            host = ""
        return host, (
            (auth.INTERNAL_METADATA_KEY, auth.create_internal(identity, self.secret)),
            (logs.REQUEST_ID_KEY, logs.request_id()),
        )

    async def forward(self, service: str, method: str, request: bytes, context) -> bytes:
        host, metadata = await self._target(service, method, request)
        timeout = clamp_timeout(context.time_remaining(), self.call_timeout)
        tried: list[str] = []
        while True:
            address = self._next(service, host, tried)
            call = self.directory.channel(address).unary_unary(method)
            try:
                answer = await call(request, timeout=timeout, metadata=metadata)
                failpoints.hit("gateway.after_forward")
                return answer
            except grpc.aio.AioRpcError as error:
                if not self._may_retry(error, service, host, tried):
                    await _pass_on(context, error)

    async def forward_stream(self, service: str, method: str, request: bytes, context):
        """Streams the upstream answers through; a watch may last up to STREAM_TIMEOUT."""
        host, metadata = await self._target(service, method, request)
        tried: list[str] = []
        while True:
            address = self._next(service, host, tried)
            call = self.directory.channel(address).unary_stream(method)(
                request, timeout=clamp_timeout(context.time_remaining(), STREAM_TIMEOUT), metadata=metadata
            )
            answered = False
            try:
                async for response in call:
                    answered = True
                    yield response
                return
            except grpc.aio.AioRpcError as error:
                if answered or not self._may_retry(error, service, host, tried):
                    await _pass_on(context, error)
                    return
            finally:
                call.cancel()

    def _next(self, service: str, host: str, tried: list[str]) -> str:
        address = self.directory.pick(service, avoid=tried, host=host)
        tried.append(address)
        return address

    def _may_retry(self, error: grpc.aio.AioRpcError, service: str, host: str, tried: list[str]) -> bool:
        """A call that never reached its instance goes to another one, at
        most MAX_TRIES in all; a call that arrived is never sent twice."""
        if not never_arrived(error):
            return False
        self.directory.mark_down(tried[-1])
        untried = [a for a in self.directory.addresses(service, host) if a not in tried]
        return len(tried) < MAX_TRIES and bool(untried)


async def _pass_on(context, error: grpc.aio.AioRpcError) -> None:
    await context.abort(error.code(), error.details(), trailing_metadata=tuple(error.trailing_metadata() or ()))


def streams(method: str) -> bool:
    """Whether the method answers with a stream, from its descriptor."""
    service, _, name = method.strip("/").partition("/")
    try:
        return descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name).server_streaming
    except KeyError:
        return False

def never_arrived(error: grpc.aio.AioRpcError) -> bool:
    """Only a call that never reached a server is safe to send to another instance."""
    return error.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in (error.details() or "")
