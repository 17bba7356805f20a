"""VolumeHostService: what the backup service asks of a volume's storage
host (the volume, or a temporary snapshot of it, exported for reading or
writing). Internal: the gateway does not route it, and a holder's export
is idempotent so a retried backup or restore finds its own."""

from __future__ import annotations

import asyncio

from ember import lookup, validation
from ember.db import Volume
from ember.errors import NotFound, Unavailable
from ember.pool_names import host_of
from ember.v1 import attachment_pb2, volume_host_pb2, volume_host_pb2_grpc
from volume.attachment_api import connector_of
from volume.backends import Backends
from volume.exports import Exports

TEMPORARY = "tmp-"


def temporary_snapshot(holder: str) -> str:
    return TEMPORARY + holder


class VolumeHostApi(volume_host_pb2_grpc.VolumeHostServiceServicer):
    def __init__(self, host: str, backends: Backends, exports: Exports):
        self.host, self.backends, self.exports = host, backends, exports

    def _volume(self, volume_id: str) -> Volume:
        volume = lookup.get(Volume, volume_id)
        if not volume.host:
            # Never placed: no storage host has it.
            raise NotFound("volume", volume_id)
        if host_of(volume.host) != self.host:
            raise Unavailable(f"volume {volume_id} is on storage host {host_of(volume.host)}, not {self.host}",
                              "WRONG_STORAGE_HOST", {"host": host_of(volume.host)})
        return volume

    def _open(self, request) -> dict:
        volume = self._volume(request.volume_id)
        driver, pool = self.backends.locate(volume.host)
        path = driver.path(pool, volume.id)
        if request.snapshot:
            driver.create_snapshot(pool, volume.id, temporary_snapshot(request.holder))
            path = driver.snapshot_path(pool, temporary_snapshot(request.holder))
        transport = self.exports.choose(connector_of(request.connector))
        return self.exports.export_file(request.holder, str(path), not request.writable, transport)

    async def OpenExport(self, request, context):
        validation.uuid_field("volume_id", request.volume_id)
        info = await asyncio.to_thread(self._open, request)
        return attachment_pb2.ConnectionInfo(**info)

    def _close(self, request) -> None:
        self.exports.unexport_id(request.holder)
        volume = Volume.get_or_none(Volume.id == request.volume_id)
        if volume is not None and volume.host and host_of(volume.host) == self.host:
            driver, pool = self.backends.locate(volume.host)
            driver.delete_snapshot(pool, temporary_snapshot(request.holder))

    async def CloseExport(self, request, context):
        await asyncio.to_thread(self._close, request)
        return volume_host_pb2.CloseExportResponse()
