"""The JetStream bus: connection (to any node of a cluster), streams with
their replicas, task publishing with dedupe ids, durable pull consumers that
ack only after their handler returned, and events."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
from typing import Any, Awaitable, Callable, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig, StreamInfo

from ember import logs, metrics, retry, subjects
from ember.pull import Puller
from ember.retry import REDELIVERY

log = logging.getLogger(__name__)
T = TypeVar("T")

EVENTS_MAX_AGE = 7 * 24 * 3600.0
DUPLICATE_WINDOW = 120.0
# How long declaring a stream waits out a cluster without a JetStream leader.
ENSURE_PATIENCE = 30.0
# Elections take a second or two; polling faster than this only adds load.
LEADER_WAIT = retry.Backoff(first=0.25, cap=1.0)
# A server cut off by the network says nothing, and TCP waits for minutes:
# only unanswered pings tell. nats-py's default (two minutes apart, two
# outstanding) would leave a service on a lost node, its registry mirror
# frozen and its tasks unfetched, for up to six minutes; this way it moves
# to another node within PING_INTERVAL * (MAX_OUTSTANDING_PINGS + 1) seconds.
PING_INTERVAL = 2.0
MAX_OUTSTANDING_PINGS = 2
# What a cluster answers while it elects a leader or a node rejoins.
TRANSIENT = (
    nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError, nats.errors.TimeoutError,
    asyncio.TimeoutError,
)


class Retry(Exception):
    """Raised by a task handler to have the task redelivered after `delay`
    seconds, by default the redelivery back-off of its attempt."""

    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.delay = delay


@dataclasses.dataclass
class Delivery:
    subject: str
    payload: dict[str, Any]
    attempt: int
    final: bool
    # Tells JetStream the task is still being worked on (resets its ack timer).
    working: Callable[[], Awaitable[None]] = dataclasses.field(default=None, repr=False)


TaskHandler = Callable[[Delivery], Awaitable[None]]


async def patiently(what: str, attempt: Callable[[], Awaitable[T]], patience: float = ENSURE_PATIENCE) -> T:
    """attempt(), again while the cluster cannot answer yet: a NATS cluster
    that just started or lost a node has no JetStream leader for a few seconds."""
    return await retry.patiently(f"{what}: JetStream not ready", TRANSIENT, LEADER_WAIT, patience, attempt)


async def ensure_stream(js, config: StreamConfig) -> StreamInfo:
    """Creates the stream, or brings an existing one to `config.num_replicas`
    (other settings of an existing stream are left as they are)."""
    try:
        info = await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        try:
            return await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # Another process created it between our look and our add.
            info = await js.stream_info(config.name)
    if info.config.num_replicas != config.num_replicas:
        log.warning(
            "stream %s has %s replicas; changing to %s", config.name, info.config.num_replicas, config.num_replicas
        )
        info = await js.update_stream(dataclasses.replace(info.config, num_replicas=config.num_replicas))
    return info


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one delivery: "ok" (acked), or "retry" / "failed"
    (redelivered after `delay` seconds)."""

    kind: str
    delay: float = 0.0

    @property
    def acked(self) -> bool:
        return self.kind == "ok"


async def run_handler(handler: TaskHandler, delivery: Delivery, max_deliver: int) -> Outcome:
    """Runs a task's handler and says what the bus is to do with the task:
    a handler that returns is done; one that raises Retry is redelivered
    after its delay (by default the redelivery back-off); one that fails
    otherwise is logged and redelivered with back-off."""
    try:
        await handler(delivery)
    except Retry as again:
        delay = REDELIVERY.delay(delivery.attempt) if again.delay is None else again.delay
        log.info("task %s retried in %.1fs: %s", delivery.subject, delay, again)
        return Outcome("retry", delay)
    except Exception:
        log.exception("task %s failed (delivery %d of %d)", delivery.subject, delivery.attempt, max_deliver)
        return Outcome("failed", REDELIVERY.delay(delivery.attempt))
    return Outcome("ok")


class Bus:
    def __init__(self, nc: nats.NATS, replicas: int = 1):
        self.nc = nc
        self.js = nc.jetstream()
        self.replicas = replicas
        # durable name -> its pull loop
        self._pulls: dict[str, asyncio.Task] = {}
        self._stopping: set[str] = set()
        # durable name -> pull subscription, for the queue-depth metric
        self.subscriptions: dict[str, Any] = {}
        self._depth = metrics.queue_depth_sampler(self.subscriptions)
        # What every task subject this process may publish starts with (its
        # NATS user's allow-list); None: any.
        self.task_prefixes: tuple[str, ...] | None = None

    def may_publish(self, subject: str) -> bool:
        return self.task_prefixes is None or subject.startswith(self.task_prefixes)

    @classmethod
    async def connect(cls, url: str, name: str, replicas: int = 1, options: dict[str, Any] | None = None) -> "Bus":
        """Connects to any of the comma-separated servers in `url` (moving to
        another when one goes away) with `options` (TLS, user: those of
        nats_access.client_options) and declares the streams with `replicas`
        copies each."""
        nc = await nats.connect(
            servers=url.split(","),
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=5,
            ping_interval=PING_INTERVAL,
            max_outstanding_pings=MAX_OUTSTANDING_PINGS,
            **(options or {}),
        )
        bus = cls(nc, replicas)
        await bus.ensure_streams()
        return bus

    async def ensure_streams(self) -> None:
        tasks = StreamConfig(
            name=subjects.TASKS_STREAM,
            subjects=[subjects.TASKS_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW,
            num_replicas=self.replicas,
        )
        events = StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=[subjects.EVENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=EVENTS_MAX_AGE,
            num_replicas=self.replicas,
        )
        for config in (tasks, events):
            await patiently(f"stream {config.name}", functools.partial(ensure_stream, self.js, config))

    async def publish_task(self, subject: str, payload: dict[str, Any], msg_id: str) -> None:
        await self.js.publish(
            subject,
            json.dumps(payload).encode(),
            stream=subjects.TASKS_STREAM,
            headers={"Nats-Msg-Id": msg_id},
        )

    async def publish_event(self, subject: str, payload: dict[str, Any]) -> None:
        await self.js.publish(subject, json.dumps(payload).encode(), stream=subjects.EVENTS_STREAM)

    async def consume(
        self,
        subject: str,
        durable: str,
        handler: TaskHandler,
        ack_wait: float,
        max_deliver: int,
        concurrency: int = 16,
    ) -> None:
        """Runs `handler` for each task on `subject` until stop_consuming() or
        close(); many processes may consume the same durable, each task goes
        to one of them."""
        config = ConsumerConfig(
            # Named, so that it is created with its filter in the request's
            # subject, the only way NATS permissions can tie the two together.
            name=durable,
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            max_ack_pending=1000,
            filter_subject=subject,
        )
        sub = await self.js.pull_subscribe(subject, durable=durable, stream=subjects.TASKS_STREAM, config=config)
        if not self.subscriptions:
            await self._depth.start()
        self.subscriptions[durable] = sub
        puller = Puller(self.nc, subjects.TASKS_STREAM, durable)
        await puller.start()
        slots = asyncio.Semaphore(concurrency)
        self._stopping.discard(durable)
        self._pulls[durable] = asyncio.create_task(
            self._pull(puller, durable, handler, slots, max_deliver, concurrency))

    async def stop_consuming(self, durable: str) -> None:
        """Fetches no more tasks for `durable`; returns once the handlers that
        hold one have finished (or 10 s passed)."""
        self._stopping.add(durable)
        pull = self._pulls.pop(durable, None)
        if pull:
            pull.cancel()
            await asyncio.gather(pull, return_exceptions=True)

    async def _pull(
        self, puller: Puller, durable: str, handler: TaskHandler, slots: asyncio.Semaphore, max_deliver: int,
        batch: int,
    ) -> None:
        running: set[asyncio.Task] = set()
        while True:
            try:
                if durable in self._stopping:
                    # stop_consuming() cancelled this task, but Python 3.11's
                    # wait_for (inside the pull) loses a cancellation that arrives
                    # as it completes: stop here all the same.
                    raise asyncio.CancelledError
                msgs = await puller.next(batch, wait=5)
            except asyncio.CancelledError:
                # Let handlers that already hold a task finish and ack it.
                if running:
                    await asyncio.wait(running, timeout=10)
                raise
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue
            except nats.errors.ConnectionClosedError:
                return
            except TRANSIENT as exc:
                # A cluster electing a leader for the stream or consumer: expected, and brief.
                log.warning("fetching tasks: JetStream unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            except Exception:
                log.exception("fetching tasks failed; retrying")
                await asyncio.sleep(1)
                continue
            for msg in msgs:
                await slots.acquire()
                task = asyncio.create_task(self._handle(msg, durable, handler, max_deliver))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), slots.release()))

    async def _handle(self, msg, durable: str, handler: TaskHandler, max_deliver: int) -> None:
        started = time.perf_counter()
        attempt = msg.metadata.num_delivered
        try:
            delivery = Delivery(msg.subject, json.loads(msg.data), attempt, attempt >= max_deliver, msg.in_progress)
        except ValueError:
            log.error("dropping malformed task on %s", msg.subject)
            await msg.term()
            metrics.observe_task(durable, "malformed", started)
            return
        # Each task runs in an asyncio task of its own, so this id is its alone.
        logs.set_request_id(str(delivery.payload.get("request_id", "")))
        outcome = await run_handler(handler, delivery, max_deliver)
        if not outcome.acked:
            await msg.nak(delay=outcome.delay)
            metrics.observe_task(durable, outcome.kind, started)
            return
        await msg.ack()
        metrics.observe_task(durable, outcome.kind, started)
        took = round((time.perf_counter() - started) * 1000, 2)
        log.info("task %s done in %.1fms (delivery %d)", msg.subject, took, attempt, extra={"fields": {
            "task": msg.subject, "duration_ms": took, "delivery": attempt}})

    async def close(self) -> None:
        await asyncio.gather(*(self.stop_consuming(durable) for durable in list(self._pulls)))
        await self._depth.stop()
        if not self.nc.is_closed:
            # Not drain(): it waits until every subscription's queue is empty,
            # and replies to pull requests or KV updates that arrive after
            # their reader stopped would keep it waiting until killed. The
            # handlers are done by now; flush() makes sure the server has
            # everything they published.
            try:
                await self.nc.flush(timeout=5)
            except Exception as exc:
                log.warning("flushing to NATS before closing failed: %s", exc)
            await self.nc.close()
