"""The lifecycle every Ember process shares: open the database and the bus,
serve gRPC with health, register with heartbeats, run, and stop in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from typing import Any, Callable, Protocol, Sequence

import grpc
import peewee
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ember import (
    addresses, auth, config, db, failpoints, kv, logs, metrics, nats_access, pagination, subjects, tls, writer,
)
from ember.bus import Bus
from ember.config import Settings
from ember.directory import Directory
from ember.entrypoints import TaskConsumer, TaskHandlers
from ember.internal_client import InternalClient
from ember.lifecycle import Part, Step, start_all, stop_all
from ember.grpc_server import CallInterceptor, bearer_authenticator, internal_authenticator

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
# How long an instance keeps serving after it left the registry, when other
# instances of its service are there to take its calls. The gateway's mirror
# of the registry learns of the departure within milliseconds, but a call it
# routed here meanwhile would otherwise arrive at a stopping server, and
# grpc answers such calls CANCELLED (grpc/grpc#41785), which the gateway
# cannot tell from a call the server began, so it cannot send it elsewhere.
DRAIN_DELAY = 0.5
STOP_WITHIN = 12.0


class Service(Protocol):
    """What a service hands the runtime: its gRPC servicers, and the parts
    it runs beside them (watchers, task consumers, periodic work), which the
    runtime starts in order once the server is up and stops in reverse."""

    name: str

    def servicers(self) -> Sequence[tuple[Any, Any, str]]:
        """(add_XServicer_to_server, servicer, full service name) triples."""

    def parts(self) -> Sequence[Part]: ...


class Runtime:
    def __init__(self, settings: Settings, service_name: str, internal_tls: tls.Internal | None = None):
        self.settings = settings
        self.service_name = service_name
        # What this process shows and trusts on internal hops; None: plaintext.
        self.internal_tls = internal_tls
        self.instance_id = uuid.uuid4().hex[:12]
        self.secret = auth.load_secret(settings.auth_secret, settings.data_path)
        self.database: peewee.Database | None = None
        self.bus: Bus | None = None
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.address = ""
        self.metrics_address = ""
        self._metrics_server = None
        self._heartbeat: kv.Heartbeat | None = None
        self._started: list[Part] = []

    def internal_client(self, directory: Directory) -> InternalClient:
        """The client this process calls other Ember processes with: its
        identity secret, message limit and, when set, its mutual TLS."""
        credentials = self.internal_tls.channel() if self.internal_tls else None
        return InternalClient(directory, self.secret, self.settings.max_message_bytes, credentials)

    def consumer(self, subject: str, durable: str, handlers: TaskHandlers, concurrency: int = 16) -> TaskConsumer:
        """The part that feeds `handlers` their tasks, with this process's settings."""
        return TaskConsumer(self.bus, self.settings, subject, durable, handlers, concurrency)

    async def open(self) -> None:
        failpoints.configure(self.settings.failpoints)
        self.settings.data_path.mkdir(parents=True, exist_ok=True)
        self.database = await asyncio.to_thread(db.open_database, self.settings.resolved_database_url)
        writer.start()
        replicas = self.settings.nats_replicas
        self.bus = await Bus.connect(self.settings.nats_url, f"ember-{self.service_name}-{self.instance_id}", replicas,
                                     nats_access.client_options(self.settings))
        self.bus.task_prefixes = nats_access.task_prefixes(self.service_name, self.settings.host)
        await kv.declare_buckets(self.bus.js, self.settings.registry_ttl, replicas)

    async def serve(
        self,
        service: Service,
        interceptors: Sequence[grpc.aio.ServerInterceptor],
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        # Without this, grpc binds with SO_REUSEPORT and a second Ember on the
        # same address would silently share its clients with the first.
        reuseport = ("grpc.so_reuseport", 0)
        # One limit for every service, so that what the gateway lets in the
        # service behind it takes too; larger is RESOURCE_EXHAUSTED.
        limit = self.settings.max_message_bytes
        sizes = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
        self.server = grpc.aio.server(interceptors=list(interceptors), options=[reuseport, *sizes])
        for add, servicer, _ in service.servicers():
            add(servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        configure = getattr(service, "configure_server", None)
        if configure:
            configure(self.server)
        try:
            if credentials is None:
                port = self.server.add_insecure_port(self.settings.listen)
            else:
                port = self.server.add_secure_port(self.settings.listen, credentials)
        except RuntimeError:
            # grpc's own message only says to set GRPC_VERBOSITY.
            raise SystemExit(
                f"cannot listen on {self.settings.listen}: the address is in use, malformed or not this machine's"
            )
        s = self.settings
        self.address = addresses.advertised("advertise", addresses.join(addresses.split(s.listen)[0], port),
                                            s.advertise, s.nats_url)
        self._metrics_server, bound = metrics.serve(s.metrics_listen, self.service_name, self.instance_id)
        self.metrics_address = addresses.advertised("metrics_advertise", bound, s.metrics_advertise, s.nats_url)
        await self.server.start()
        for _, _, name in service.servicers():
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def register(self, extra: dict[str, Any] | None = None) -> None:
        registry = await kv.open_bucket(self.bus.js, subjects.REGISTRY_BUCKET, self.settings.registry_ttl)
        info = {"service": self.service_name, "host": self.settings.host, "address": self.address,
                "instance": self.instance_id, "metrics": self.metrics_address, **(extra or {})}

        async def value() -> dict[str, Any]:
            return info

        key = f"{self.service_name}.{self.instance_id}"
        self._heartbeat = kv.Heartbeat(registry, key, value, self.settings.registry_ttl / 3)
        await self._heartbeat.start()

    async def _leave_registry(self) -> None:
        others = await self._heartbeat.others(f"{self.service_name}.")
        await self._heartbeat.stop()
        if others:
            log.info("left the registry; serving %.1fs more for calls already routed here", DRAIN_DELAY)
            await asyncio.sleep(DRAIN_DELAY)

    async def start_parts(self, service: Service) -> None:
        self._started = await start_all(service.parts())

    async def close(self) -> None:
        """Stops what runs in the order that loses nothing: no new calls, then
        the service's parts in reverse, then the bus and the writer they use."""
        steps: list[Part] = [Step("health", on_stop=self.health.enter_graceful_shutdown)]
        if self._heartbeat:
            steps.append(Step("registry", on_stop=self._leave_registry))
        if self.server:
            steps.append(Step("gRPC server", on_stop=lambda: self.server.stop(SHUTDOWN_GRACE)))
        steps.extend(reversed(self._started))
        if self.bus:
            steps.append(Step("bus", on_stop=self.bus.close))
        if self.database:
            steps.append(Step("writer", on_stop=lambda: asyncio.to_thread(writer.stop)))
        if self._metrics_server:
            steps.append(Step("metrics", on_stop=lambda: asyncio.to_thread(self._metrics_server.shutdown)))
        # Launchers kill what has not stopped after 15 s.
        await stop_all(steps, time.monotonic() + STOP_WITHIN)
        if self.database:
            self.database.close()


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run(
    settings: Settings,
    name: str,
    make_service: Callable[[Runtime], Service],
    public: bool = False,
) -> None:
    """Runs the service until SIGINT/SIGTERM. A public service (the gateway)
    admits bearer tokens; the others only calls signed by the gateway."""
    # Checked before anything starts, so a bad address or TLS setting fails at once.
    addresses.check(settings, ("", "metrics", *getattr(make_service, "advertises", ())))
    internal_tls = tls.internal(settings, serves=not public)
    runtime = Runtime(settings, name, internal_tls)
    if public:
        credentials = tls.public_credentials(settings)
    else:
        credentials = internal_tls.server() if internal_tls else None
    await runtime.open()
    service = make_service(runtime)
    try:
        # Secrets that signed tokens before (or sign them after) a rotation of auth_secret.
        accepted = auth.load_accepted(settings.auth_secrets_accepted)
        pagination.accept_also(runtime.secret, accepted)
        authenticate = (bearer_authenticator if public else internal_authenticator)(runtime.secret, accepted)
        interceptor = CallInterceptor(authenticate, public=public)
        await runtime.serve(service, [interceptor], credentials)
        await runtime.start_parts(service)
        await runtime.register(getattr(service, "registry_extra", None))
        log.info("%s %s serving on %s, metrics on http://%s/metrics", service.name, runtime.instance_id,
                 runtime.address, runtime.metrics_address)
        print(f"{service.name} ready on {runtime.address}", flush=True)
        await wait_for_signal()
        log.info("%s stopping", service.name)
        if public:
            # Its clients do not watch the registry: they move on when told (services drain as close() says).
            interceptor.turn_away()
    finally:
        await runtime.close()


def main(name: str, description: str, make_service: Callable[[Runtime], Service], public: bool = False, **defaults) -> None:
    """The whole of a service's `python -m` (and `ember serve`): settings from
    flags, EMBER_* variables and the [name] table of a --config file, logging in
    the chosen format, then the service on uvloop (a quarter less CPU per
    request than asyncio's own loop, measured on the create path)."""
    module = make_service.__module__.partition(".")[0]
    settings = config.parse(description=description, prog=f"python -m {module}", service=name, **defaults)
    logs.configure(name, settings.log_format)
    uvloop.run(run(settings, name, make_service, public))
