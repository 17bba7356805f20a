"""For tests (as nameko.testing): a bus that records what is published, tasks delivered as the
bus would, RPCs called as a given caller through the real interceptor, settings and handlers built with fakes."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import importlib
import inspect
import json
import os
import tempfile
import typing
from typing import Any, Awaitable, Callable
from unittest import mock

import grpc
from google.rpc import error_details_pb2, status_pb2

from ember import auth, grpc_server, logs, subjects
from ember.bus import Bus, Delivery, Outcome, run_handler
from ember.config import Settings
from ember.entrypoints import TaskHandlers

PublishedTask = collections.namedtuple("PublishedTask", "subject msg_id payload")
PublishedEvent = collections.namedtuple("PublishedEvent", "subject payload")
# Deliveries of one task before the bus gives up on it, as a service's default settings say.
MAX_DELIVER = Settings.task_max_deliver
# What grpc.aio's time_remaining() says of a call without a deadline (never None).
NO_DEADLINE = 1e9


class FakeBus:
    """Records the tasks and events a service publishes, in order. With
    `broken` set, every publish raises it (a bus that is away)."""

    def __init__(self):
        self.tasks: list[PublishedTask] = []
        self.events: list[PublishedEvent] = []
        self.broken: Exception | None = None
        self.task_prefixes: tuple[str, ...] | None = None

    may_publish = Bus.may_publish

    async def publish_task(self, subject: str, payload: dict[str, Any], msg_id: str) -> None:
        if self.broken is not None:
            raise self.broken
        self.tasks.append(PublishedTask(subject, msg_id, json.loads(json.dumps(payload))))

    async def publish_event(self, subject: str, payload: dict[str, Any]) -> None:
        if self.broken is not None:
            raise self.broken
        self.events.append(PublishedEvent(subject, json.loads(json.dumps(payload))))

    def tasks_on(self, subject: str) -> list[PublishedTask]:
        return [task for task in self.tasks if task.subject == subject]

    def event_payloads(self) -> list[dict[str, Any]]:
        return [event.payload for event in self.events]

    def events_of(self, resource: str, resource_id: str) -> list[dict[str, Any]]:
        """The payloads of the resource's events, by the subject a watcher listens on."""
        return [event.payload for event in self.events if event.subject == subjects.event(resource, resource_id)]

    def statuses(self, resource: str, resource_id: str) -> list[str]:
        """The statuses the resource's events announced, progress included."""
        return [payload["status"] for payload in self.events_of(resource, resource_id)]


class Beats:
    """A delivery's `working` callback: counts the keep-alive calls of its
    handler, and lets a fake wait for them instead of sleeping."""

    def __init__(self):
        self.count = 0
        self._changed = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, count: int, timeout: float = 10.0) -> None:
        """Returns once the handler said `count` times that it is working."""
        async with asyncio.timeout(timeout):
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()


@dataclasses.dataclass(frozen=True)
class Delivered:
    """What the bus did with one delivery (`outcome`: ack, or nak after a
    delay) and the keep-alive calls its handler made meanwhile."""

    outcome: Outcome
    beats: Beats


async def deliver(
    handlers: TaskHandlers, subject: str, payload: dict[str, Any], attempt: int = 1, max_deliver: int = MAX_DELIVER,
    beats: Beats | None = None,
) -> Delivered:
    """Delivers a task to `handlers` as the bus does: the payload as JSON
    carries it, `attempt` of `max_deliver` (the last is final), in an asyncio
    task of its own under the task's request id, judged by bus.run_handler."""
    beats = beats if beats is not None else Beats()
    delivery = Delivery(subject, json.loads(json.dumps(payload)), attempt, attempt >= max_deliver, beats)

    async def as_the_bus() -> Outcome:
        logs.set_request_id(str(delivery.payload.get("request_id", "")))
        return await run_handler(handlers.handle, delivery, max_deliver)

    return Delivered(await asyncio.create_task(as_the_bus()), beats)


class CallFailed(Exception):
    """An RPC that ended with a status, as its caller would see it: `code`
    and `message`, and from its ErrorInfo `reason` and `metadata` (and the
    BadRequest `violations`, as (field, description) pairs)."""

    def __init__(self, code: grpc.StatusCode, message: str, trailing: tuple = ()):
        self.code, self.message, self.trailing = code, message, tuple(trailing)
        self.reason, self.metadata, self.violations = "", {}, []
        for key, value in self.trailing:
            if key == "grpc-status-details-bin":
                self._read_details(status_pb2.Status.FromString(value))
        super().__init__(f"{code.name} {self.reason or '(no reason)'}: {message}")

    def _read_details(self, status: status_pb2.Status) -> None:
        for detail in status.details:
            info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            if detail.Unpack(info):
                self.reason, self.metadata = info.reason, dict(info.metadata)
            elif detail.Unpack(bad):
                self.violations = [(v.field, v.description) for v in bad.field_violations]


class FakeContext:
    """The part of grpc.aio.ServicerContext Ember's servicers and
    interceptor use; abort() ends the call as grpc.aio does, by raising."""

    def __init__(self, metadata: tuple = (), timeout: float | None = None):
        self.metadata, self.timeout = tuple(metadata), timeout
        self.status: tuple[grpc.StatusCode, str] | None = None
        self.trailing: tuple = ()

    def invocation_metadata(self) -> tuple:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def time_remaining(self) -> float:
        return NO_DEADLINE if self.timeout is None else self.timeout

    def set_trailing_metadata(self, metadata) -> None:
        self.trailing = tuple(metadata)

    def code(self) -> grpc.StatusCode | None:
        return self.status[0] if self.status else None

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()) -> None:
        self.status, self.trailing = (code, details), tuple(trailing_metadata)
        raise grpc.aio.AbortError(f"{code.name}: {details}")


class _CallDetails(typing.NamedTuple):
    method: str
    invocation_metadata: tuple


def method_path(method: Callable) -> str:
    """'/ember.v1.VolumeService/CreateVolume' of a bound servicer method
    (a plain function: '/test/<its name>')."""
    owner = getattr(method, "__self__", None)
    for cls in type(owner).__mro__:
        if cls.__module__.endswith("_pb2_grpc") and cls.__name__.endswith("Servicer"):
            messages = importlib.import_module(cls.__module__.removesuffix("_grpc"))
            service = messages.DESCRIPTOR.services_by_name[cls.__name__.removesuffix("Servicer")]
            return f"/{service.full_name}/{method.__name__}"
    return f"/{'test' if owner is None else type(owner).__name__}/{method.__name__}"


async def call_as(
    method: Callable[[Any, Any], Awaitable[Any]], request, identity: auth.Identity, timeout: float | None = None,
    request_id: str = "",
):
    """The answer of a unary servicer method (`api.CreateVolume`) called by
    `identity` through the interceptor every service runs (so the servicer
    finds its caller as on a real call, and failures become statuses the
    same way); a call that ends with a status raises CallFailed."""
    metadata = ((logs.REQUEST_ID_KEY, request_id),) if request_id else ()
    details = _CallDetails(method_path(method), metadata)

    async def continuation(_details):
        return grpc.unary_unary_rpc_method_handler(method)

    interceptor = grpc_server.CallInterceptor(lambda _metadata: identity)
    handler = await interceptor.intercept_service(continuation, details)
    context = FakeContext(metadata, timeout)
    try:
        # A task of its own, as each call has: the caller's context variables stay the test's.
        return await asyncio.create_task(handler.unary_unary(request, context))
    except grpc.aio.AbortError:
        code, message = context.status
        raise CallFailed(code, message, context.trailing) from None


def make_settings(data_dir: str | os.PathLike | None = None, **overrides) -> Settings:
    """Settings for a test: its data (and SQLite database) under `data_dir`
    (a new temporary directory if not given), a fixed signing secret and
    host name, then `overrides` (field=value)."""
    data_dir = data_dir if data_dir is not None else tempfile.mkdtemp(prefix="ember-test-")
    base = Settings(data_dir=str(data_dir), auth_secret="ember-test-secret", host="host-a")
    return dataclasses.replace(base, **overrides)


def _argument_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except NameError:
        # An annotation that only exists for type checkers: that argument must be given.
        return {}


def build(cls: type, **given):
    """An instance of `cls` (task handlers, a servicer) as its service makes
    it, from the `given` arguments (as nameko's worker_factory): `bus` not
    given is a FakeBus, `settings` make_settings(), and any other argument
    annotated with a class an autospec mock of that class."""
    hints = _argument_hints(cls)
    arguments = {}
    for name, parameter in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        hint = hints.get(name)
        if name in given:
            arguments[name] = given.pop(name)
        elif name == "bus":
            arguments[name] = FakeBus()
        elif name == "settings":
            arguments[name] = make_settings()
        elif parameter.default is inspect.Parameter.empty and inspect.isclass(hint) and hint.__module__ != "builtins":
            arguments[name] = mock.create_autospec(hint, instance=True)
    if given:
        raise TypeError(f"{cls.__name__} takes no argument(s) {', '.join(given)}")
    return cls(**arguments)
