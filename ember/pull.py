"""Pulling a durable consumer's tasks: all that are ready at once, in one
batch, or else the next one to arrive, however many processes pull too.

nats-py's fetch(batch) cannot be used for this. When another process has a
pull waiting on the same durable, nats-server answers its first request
("no_wait") with 408 Requests Pending, and nats-py then waits for a full batch
or its timeout, holding the tasks it has been given meanwhile until ack_wait
sends them to someone else."""

from __future__ import annotations

import asyncio
import json
import time

import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import APIError

# Statuses that end a pull: nothing (more) to deliver now, the request
# expired or was pushed out (a new consumer leader, a full waiting list).
ENDS = (api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT, api.StatusCode.CONFLICT)
# The server ends a waiting pull at its expiry; this much later the puller gives up on hearing so.
GRACE = 1.0


class Puller:
    """Pull requests for one durable of `stream`, answered on an inbox of its own."""

    def __init__(self, nc: nats.NATS, stream: str, durable: str):
        self.nc = nc
        self.subject = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.replies: asyncio.Queue[Msg] = asyncio.Queue()
        self.inbox = ""

    async def start(self) -> None:
        self.inbox = self.nc.new_inbox()
        await self.nc.subscribe(self.inbox, cb=self.replies.put)

    async def next(self, batch: int, wait: float) -> list[Msg]:
        """Up to `batch` tasks that are ready; if none is, the first to
        arrive within `wait` seconds; [] if none did."""
        await self._request({"batch": batch, "no_wait": True})
        ready = await self._collect(batch, wait)
        if ready:
            return ready
        await self._request({"batch": 1, "expires": int(wait * 1e9)})
        return await self._collect(1, wait + GRACE)

    async def _request(self, request: dict) -> None:
        await self.nc.publish(self.subject, json.dumps(request).encode(), reply=self.inbox)

    async def _collect(self, batch: int, wait: float) -> list[Msg]:
        """Tasks off the inbox until there are `batch`, a status ends the
        pull, or `wait` seconds passed. A task or status left over from an
        earlier pull that gave up counts here: the task is as good as any,
        the status ends this pull early and the caller pulls again."""
        tasks: list[Msg] = []
        deadline = time.monotonic() + wait
        while len(tasks) < batch:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a
            # cancellation that arrives as the reply does, and stopping
            # would then wait out the whole pull.
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                    msg = await self.replies.get()
            except TimeoutError:
                break
            status = msg.headers.get(api.Header.STATUS) if msg.headers else None
            if not status:
                tasks.append(msg)
            elif status in ENDS:
                break
            elif status != api.StatusCode.CONTROL_MESSAGE:
                # 503 (JetStream unavailable) and the like, as nats-py's fetch raises them.
                raise APIError.from_msg(msg)
        return tasks
