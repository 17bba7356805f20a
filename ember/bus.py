"""The JetStream bus: connection, streams, task publishing with dedupe ids,
durable pull consumers that ack only after their handler returned, and events."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any, Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from ember import subjects

log = logging.getLogger(__name__)

EVENTS_MAX_AGE = 7 * 24 * 3600.0
DUPLICATE_WINDOW = 120.0


class Retry(Exception):
    """Raised by a task handler to have the task redelivered after `delay` seconds."""

    def __init__(self, reason: str, delay: float = 1.0):
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


class Bus:
    def __init__(self, nc: nats.NATS):
        self.nc = nc
        self.js = nc.jetstream()
        self._consumers: list[asyncio.Task] = []

    @classmethod
    async def connect(cls, url: str, name: str) -> "Bus":
        nc = await nats.connect(
            servers=url.split(","),
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=5,
        )
        bus = cls(nc)
        await bus.ensure_streams()
        return bus

    async def ensure_streams(self) -> None:
        await self._ensure(
            StreamConfig(
                name=subjects.TASKS_STREAM,
                subjects=[subjects.TASKS_SUBJECTS],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW,
            )
        )
        await self._ensure(
            StreamConfig(
                name=subjects.EVENTS_STREAM,
                subjects=[subjects.EVENTS_SUBJECTS],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=EVENTS_MAX_AGE,
            )
        )

    async def _ensure(self, config: StreamConfig) -> None:
        try:
            await self.js.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError:
                # Another process created it between our look and our add.
                await self.js.stream_info(config.name)

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
        """Runs `handler` for each task on `subject` until close(); many processes
        may consume the same durable, each task goes to one of them."""
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            max_ack_pending=1000,
            filter_subject=subject,
        )
        sub = await self.js.pull_subscribe(subject, durable=durable, stream=subjects.TASKS_STREAM, config=config)
        slots = asyncio.Semaphore(concurrency)
        self._consumers.append(asyncio.create_task(self._pull(sub, handler, slots, max_deliver, concurrency)))

    async def _pull(self, sub, handler: TaskHandler, slots: asyncio.Semaphore, max_deliver: int, batch: int) -> None:
        running: set[asyncio.Task] = set()
        while True:
            try:
                msgs = await sub.fetch(batch=batch, timeout=5)
            except asyncio.CancelledError:
                # Let handlers that already hold a task finish and ack it.
                if running:
                    await asyncio.wait(running, timeout=10)
                raise
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue
            except nats.errors.ConnectionClosedError:
                return
            except Exception:
                log.exception("fetching tasks failed; retrying")
                await asyncio.sleep(1)
                continue
            for msg in msgs:
                await slots.acquire()
                task = asyncio.create_task(self._handle(msg, handler, max_deliver))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), slots.release()))

    async def _handle(self, msg, handler: TaskHandler, max_deliver: int) -> None:
        attempt = msg.metadata.num_delivered
        try:
            delivery = Delivery(msg.subject, json.loads(msg.data), attempt, attempt >= max_deliver, msg.in_progress)
        except ValueError:
            log.error("dropping malformed task on %s", msg.subject)
            await msg.term()
            return
        try:
            await handler(delivery)
        except Retry as retry:
            log.info("task %s retried in %.1fs: %s", msg.subject, retry.delay, retry)
            await msg.nak(delay=retry.delay)
            return
        except Exception:
            log.exception("task %s failed (delivery %d of %d)", msg.subject, attempt, max_deliver)
            await msg.nak(delay=min(2.0**attempt, 30.0))
            return
        await msg.ack()

    async def close(self) -> None:
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
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
