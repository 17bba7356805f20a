"""The backup service's calls to volumes' storage hosts (VolumeHostService):
export a volume or a temporary snapshot for reading, or a volume for
writing, and take the export down again."""

from __future__ import annotations

from google.protobuf import json_format

from ember import auth, logs
from ember.directory import Directory
from ember.v1 import attachment_pb2, volume_host_pb2, volume_host_pb2_grpc

CALL_TIMEOUT = 300.0
# Who the backup service is when it calls other services.
SERVICE_IDENTITY = auth.Identity("ember", "backup-service", (auth.ADMIN_ROLE,))


class VolumeHosts:
    def __init__(self, directory: Directory, secret: bytes, host: str):
        self.directory, self.secret, self.host = directory, secret, host

    def _stub(self, volume_host: str) -> volume_host_pb2_grpc.VolumeHostServiceStub:
        address = self.directory.pick("volume", host=volume_host.partition("@")[0])
        return volume_host_pb2_grpc.VolumeHostServiceStub(self.directory.channel(address))

    def _metadata(self) -> tuple:
        return (
            (auth.INTERNAL_METADATA_KEY, auth.create_internal(SERVICE_IDENTITY, self.secret)),
            (logs.REQUEST_ID_KEY, logs.request_id()),
        )

    async def open(self, volume, holder: str, writable: bool, snapshot: bool = False) -> dict:
        """The connection info of the export: a local path when this backup
        host is the volume's host, else an NBD URI."""
        request = volume_host_pb2.OpenExportRequest(
            volume_id=volume.id, holder=holder, writable=writable, snapshot=snapshot,
            connector=attachment_pb2.Connector(host=self.host, transports=["local", "nbd"]),
        )
        info = await self._stub(volume.host).OpenExport(request, metadata=self._metadata(), timeout=CALL_TIMEOUT)
        return json_format.MessageToDict(info, preserving_proto_field_name=True)

    async def close(self, volume, holder: str) -> None:
        request = volume_host_pb2.CloseExportRequest(volume_id=volume.id, holder=holder)
        await self._stub(volume.host).CloseExport(request, metadata=self._metadata(), timeout=CALL_TIMEOUT)
