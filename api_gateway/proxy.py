"""Forwarding: any unary call to a routed service goes, bytes untouched, to
one of its instances with the caller's identity signed into the metadata and
the deadline clamped; the upstream status comes back as it was."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from google.protobuf import descriptor_pool

from ember import auth, failpoints
from ember.errors import PermissionDenied
from ember.grpc_server import current_identity
from ember.internal_client import InternalClient
from api_gateway.host_routes import ANY_HOST_WHEN_DOWN, HOST_ROUTED, storage_host

STREAM_TIMEOUT = 3600.0
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
    def __init__(self, client: InternalClient, call_timeout: float):
        self.client, self.call_timeout = client, call_timeout

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

    async def _target(self, service: str, method: str, request: bytes) -> tuple[auth.Identity, str]:
        """The caller, and the storage host the call must reach ('' for any)."""
        identity = current_identity()
        if method in ADMIN_ONLY and not identity.is_admin:
            raise PermissionDenied(f"{method.rsplit('/', 1)[1]} needs the admin role", metadata={"method": method})
        host = await asyncio.to_thread(storage_host, method, request) if method in HOST_ROUTED else ""
        if host and method in ANY_HOST_WHEN_DOWN and not self.client.directory.addresses(service, host):
            host = ""
        return identity, host

    async def forward(self, service: str, method: str, request: bytes, context) -> bytes:
        identity, host = await self._target(service, method, request)
        timeout = clamp_timeout(context.time_remaining(), self.call_timeout)
        try:
            answer = await self.client.unary(service, method, request, identity, timeout, host)
            failpoints.hit("gateway.after_forward")
            return answer
        except grpc.aio.AioRpcError as error:
            await _pass_on(context, error)

    async def forward_stream(self, service: str, method: str, request: bytes, context):
        """Streams the upstream answers through; a watch may last up to STREAM_TIMEOUT."""
        identity, host = await self._target(service, method, request)
        timeout = clamp_timeout(context.time_remaining(), STREAM_TIMEOUT)
        answers = self.client.stream(service, method, request, identity, timeout, host)
        async with contextlib.aclosing(answers):
            try:
                async for response in answers:
                    yield response
            except grpc.aio.AioRpcError as error:
                await _pass_on(context, error)


async def _pass_on(context, error: grpc.aio.AioRpcError) -> None:
    await context.abort(error.code(), error.details(), trailing_metadata=tuple(error.trailing_metadata() or ()))


def streams(method: str) -> bool:
    """Whether the method answers with a stream, from its descriptor."""
    service, _, name = method.strip("/").partition("/")
    try:
        return descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name).server_streaming
    except KeyError:
        return False
