"""The backup service's calls to volumes' storage hosts (VolumeHostService):
export a volume or a temporary snapshot for reading, or a volume for
writing, and take the export down again."""

from __future__ import annotations

from google.protobuf import json_format

from ember import auth, pool_names
from ember.internal_client import InternalClient
from ember.v1 import attachment_pb2, volume_host_pb2

CALL_TIMEOUT = 300.0
OPEN_EXPORT = "/ember.v1.VolumeHostService/OpenExport"
CLOSE_EXPORT = "/ember.v1.VolumeHostService/CloseExport"
# Who the backup service is when it calls other services.
SERVICE_IDENTITY = auth.Identity("ember", "backup-service", (auth.ADMIN_ROLE,))


class VolumeHosts:
    def __init__(self, client: InternalClient, host: str):
        self.client, self.host = client, host

    async def _call(self, volume, method: str, request, answer):
        """On the volume's own storage host."""
        return await self.client.unary("volume", method, request, SERVICE_IDENTITY, CALL_TIMEOUT,
                                       host=pool_names.host_of(volume.host), answer=answer)

    async def open(self, volume, holder: str, writable: bool, snapshot: bool = False) -> dict:
        """The connection info of the export: a local path when this backup
        host is the volume's host, else an NBD URI."""
        request = volume_host_pb2.OpenExportRequest(
            volume_id=volume.id, holder=holder, writable=writable, snapshot=snapshot,
            connector=attachment_pb2.Connector(host=self.host, transports=["local", "nbd"]),
        )
        info = await self._call(volume, OPEN_EXPORT, request, attachment_pb2.ConnectionInfo)
        return json_format.MessageToDict(info, preserving_proto_field_name=True)

    async def close(self, volume, holder: str) -> None:
        request = volume_host_pb2.CloseExportRequest(volume_id=volume.id, holder=holder)
        await self._call(volume, CLOSE_EXPORT, request, volume_host_pb2.CloseExportResponse)
