"""StatusService on the gateway: the registered instances and their health
checks, every host and whether it is down, NATS and the task queues, the
database and the exports that fail, gathered at once."""

from __future__ import annotations

import asyncio
import time

import grpc
import peewee
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember import config, kv, messages, subjects
from ember.db import Attachment
from ember.internal_client import InternalClient, open_channel
from ember.errors import PermissionDenied
from ember.grpc_server import current_identity
from ember.v1 import status_pb2, status_pb2_grpc
from api_gateway import host_view

# An instance that does not answer its health check within this is unreachable.
HEALTH_TIMEOUT = 1.0
DATABASE_TIMEOUT = 3.0
NATS_TIMEOUT = 2.0


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def database_backend(database: peewee.Database) -> str:
    return "postgresql" if isinstance(database, peewee.PostgresqlDatabase) else "sqlite"


def _ping(database: peewee.Database) -> None:
    database.execute_sql("SELECT 1").fetchone()


def _failed_exports() -> list[status_pb2.FailedExport]:
    rows = Attachment.select().where(Attachment.export_failed_at.is_null(False)).order_by(Attachment.export_failed_at)
    return [status_pb2.FailedExport(attachment_id=a.id, volume_id=a.volume_id, instance_id=a.instance_id, host=a.host,
                                    reason=a.status_detail, since=messages.timestamp(a.export_failed_at))
            for a in rows]


class StatusApi(status_pb2_grpc.StatusServiceServicer):
    def __init__(self, internal: InternalClient, bus, database: peewee.Database, database_url: str,
                 registry_ttl: float, service_down_after: float):
        self.internal, self.bus, self.database = internal, bus, database
        self.database_url, self.registry_ttl, self.service_down_after = database_url, registry_ttl, service_down_after
        # The pools' capacity reports: they name storage hosts whose services are gone.
        self.reports: kv.KvMirror | None = None
        # Gateways' public ports, which speak plaintext or public TLS, not the internal CA's mutual TLS.
        self._public: dict[str, grpc.aio.Channel] = {}

    async def start(self, js) -> None:
        self.reports = kv.KvMirror(await kv.open_bucket(js, subjects.CAPABILITIES_BUCKET, ttl=None))
        await self.reports.start()

    async def stop(self) -> None:
        if self.reports:
            await self.reports.stop()
        for channel in self._public.values():
            await channel.close()

    def _channel(self, entry: dict) -> grpc.aio.Channel:
        """The channel a health check of the registered `entry` goes over: a
        gateway's public port speaks TLS (trusting the usual roots, or
        $GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) when it registered so, else plaintext."""
        address = entry.get("address", "")
        if entry.get("service") != "gateway":
            return self.internal.channel(address)
        channel = self._public.get(address)
        if channel is None:
            credentials = grpc.ssl_channel_credentials() if entry.get("public_tls") else None
            channel = self._public[address] = open_channel(address, self.internal.max_message_bytes, credentials)
        return channel

    async def GetStatus(self, request, context) -> status_pb2.Status:
        if not current_identity().is_admin:
            raise PermissionDenied("GetStatus needs the admin role", metadata={"method": "GetStatus"})
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        instances, nats_status, database = await asyncio.gather(self._instances(), self._nats(), self._database())
        answer = status_pb2.Status(time=now, instances=instances, nats=nats_status, database=database,
                                   hosts=self._hosts())
        if database.reachable:
            answer.failed_exports.extend(await asyncio.to_thread(_failed_exports))
        return answer

    async def _instances(self) -> list[status_pb2.ServiceInstance]:
        entries = sorted(self.internal.directory.mirror.fresh("", self.registry_ttl).values(),
                         key=lambda e: (e.get("service", ""), e.get("host", ""), e.get("address", "")))
        return list(await asyncio.gather(*(self._instance(entry) for entry in entries)))

    def _hosts(self) -> list[status_pb2.Host]:
        return host_view.hosts(self.internal.directory.mirror.entries.values(), self.reports.entries.values(),
                               time.time(), self.registry_ttl, self.service_down_after)

    async def _instance(self, entry: dict) -> status_pb2.ServiceInstance:
        instance = status_pb2.ServiceInstance(
            service=entry.get("service", ""), instance_id=entry.get("instance", ""), host=entry.get("host", ""),
            address=entry.get("address", ""), metrics_address=entry.get("metrics", ""),
            heartbeat_age=_duration(max(time.time() - entry.get("ts", 0), 0)),
        )
        stub = health_pb2_grpc.HealthStub(self._channel(entry))
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            instance.health = status_pb2.INSTANCE_HEALTH_UNREACHABLE
            instance.detail = f"{error.code().name}: {error.details()}"
            return instance
        if answer.status == health_pb2.HealthCheckResponse.SERVING:
            instance.health = status_pb2.INSTANCE_HEALTH_SERVING
        else:
            instance.health = status_pb2.INSTANCE_HEALTH_NOT_SERVING
            instance.detail = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        return instance

    async def _nats(self) -> status_pb2.NatsStatus:
        nc = self.bus.nc
        answer = status_pb2.NatsStatus(connected=nc.is_connected)
        if nc.connected_url:
            answer.server_url = f"{nc.connected_url.hostname}:{nc.connected_url.port}"
        version = nc.connected_server_version
        answer.server_version = f"{version.major}.{version.minor}.{version.patch}{version.prerelease or ''}"
        try:
            answer.rtt.CopyFrom(_duration(await nc.rtt(timeout=NATS_TIMEOUT)))
            for name in (subjects.TASKS_STREAM, subjects.EVENTS_STREAM):
                answer.streams.append(await asyncio.wait_for(self._stream(name), NATS_TIMEOUT))
        except Exception as exc:
            answer.error = _reason(exc)
        return answer

    async def _stream(self, name: str) -> status_pb2.StreamStatus:
        info = await self.bus.js.stream_info(name)
        stream = status_pb2.StreamStatus(
            name=name, messages=info.state.messages, bytes=info.state.bytes, replicas=info.config.num_replicas or 1,
        )
        for consumer in await self.bus.js.consumers_info(name):
            # Watches read through ephemeral consumers; only the task queues are of interest.
            if consumer.config.durable_name:
                stream.consumers.append(status_pb2.ConsumerStatus(
                    name=consumer.name, pending=consumer.num_pending or 0, in_flight=consumer.num_ack_pending or 0,
                    redelivered=consumer.num_redelivered or 0,
                ))
        stream.consumers.sort(key=lambda c: c.name)
        return stream

    async def _database(self) -> status_pb2.DatabaseStatus:
        answer = status_pb2.DatabaseStatus(
            backend=database_backend(self.database), url=config.redact(self.database_url),
        )
        started = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping, self.database), DATABASE_TIMEOUT)
        except Exception as exc:
            answer.error = _reason(exc)
            return answer
        answer.reachable = True
        answer.latency.CopyFrom(_duration(time.perf_counter() - started))
        return answer
