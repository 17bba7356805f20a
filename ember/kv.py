"""JetStream KV helpers: open a bucket with a TTL, keep a key alive with
heartbeats, and mirror a whole bucket into memory by watching it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable

import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

log = logging.getLogger(__name__)


async def open_bucket(js, bucket: str, ttl: float | None):
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        try:
            return await js.create_key_value(KeyValueConfig(bucket=bucket, ttl=ttl, history=1, storage=StorageType.FILE))
        except nats.js.errors.BadRequestError:
            return await js.key_value(bucket)


class Heartbeat:
    """Puts `key` every `interval` seconds with the value `value()` returns
    (stamped with the time), and deletes it on stop. Pokes bring the next put
    forward, but puts stay at least `min_gap` seconds apart, so a burst of
    pokes costs one put."""

    def __init__(
        self, kv, key: str, value: Callable[[], Awaitable[dict[str, Any]]], interval: float, min_gap: float = 0.0
    ):
        self.kv, self.key, self.value, self.interval, self.min_gap = kv, key, value, interval, min_gap
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._loop())

    def poke(self) -> None:
        """Report soon, e.g. after the reported figures changed."""
        self._wake.set()

    async def beat(self) -> None:
        body = dict(await self.value(), ts=time.time())
        await self.kv.put(self.key, json.dumps(body).encode())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.beat()
            except Exception:
                log.exception("heartbeat %s failed", self.key)
            await asyncio.sleep(self.min_gap)

    async def stop(self, remove: bool = True) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not remove:
            return
        try:
            await self.kv.delete(self.key)
        except Exception:
            log.warning("could not remove %s from the registry", self.key)


class KvMirror:
    """An in-memory copy of a bucket, kept current by a watcher."""

    def __init__(self, kv):
        self.kv = kv
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._watcher = None

    async def start(self) -> None:
        watcher = self._watcher = await self.kv.watchall()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._follow(watcher, ready))
        await ready.wait()

    async def _follow(self, watcher, ready: asyncio.Event) -> None:
        async for entry in watcher:
            if entry is None:
                ready.set()
                continue
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.entries.pop(entry.key, None)
            else:
                try:
                    self.entries[entry.key] = json.loads(entry.value)
                except ValueError:
                    log.warning("ignoring malformed KV entry %s", entry.key)
            ready.set()
            self.changed.set()

    def fresh(self, prefix: str, max_age: float) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {
            k: v for k, v in self.entries.items() if k.startswith(prefix) and now - v.get("ts", 0) <= max_age
        }

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._watcher:
            # Otherwise updates would keep piling up for a reader that is gone.
            await self._watcher.stop()
