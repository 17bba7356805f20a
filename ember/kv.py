"""JetStream KV helpers: declare Ember's buckets with their replicas, open a
bucket with a TTL, keep a key alive with heartbeats, and mirror a whole
bucket into memory by watching it."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
from typing import Any, Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

from ember import subjects
from ember.bus import ensure_stream, patiently
from ember.periodic import Periodic

log = logging.getLogger(__name__)

# How long a new watcher may take to replay a bucket.
WATCH_TIMEOUT = 30.0


async def open_bucket(js, bucket: str, ttl: float | None, replicas: int | None = None):
    """The bucket, created if missing. With `replicas`, an existing bucket is
    brought to that many copies; without, it is taken as it is (1 copy when
    this creates it)."""
    try:
        kv = await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        config = KeyValueConfig(bucket=bucket, ttl=ttl, history=1, storage=StorageType.FILE, replicas=replicas or 1)
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError:
            return await js.key_value(bucket)
    if replicas:
        # A bucket is a stream underneath; its replicas change like a stream's.
        status = await kv.status()
        await ensure_stream(js, dataclasses.replace(status.stream_info.config, num_replicas=replicas))
    return kv


async def declare_buckets(js, registry_ttl: float, replicas: int) -> None:
    """Every bucket Ember uses, with `replicas` copies: done when a process
    connects, before anything opens one (and would create it with one copy)."""
    for bucket, ttl in ((subjects.REGISTRY_BUCKET, registry_ttl), (subjects.CAPABILITIES_BUCKET, None)):
        await patiently(f"bucket {bucket}", functools.partial(open_bucket, js, bucket, ttl, replicas))


class Heartbeat:
    """Puts `key` every `interval` seconds with the value `value()` returns
    (stamped with the time), and deletes it on stop. Pokes bring the next put
    forward, but puts stay at least `min_gap` seconds apart, so a burst of
    pokes costs one put."""

    def __init__(
        self, kv, key: str, value: Callable[[], Awaitable[dict[str, Any]]], interval: float, min_gap: float = 0.0
    ):
        self.kv, self.key, self.value = kv, key, value
        # NATS unreachable or electing a leader: the next beat will do.
        self._beating = Periodic(f"heartbeat {key}", interval, self.beat, min_gap=min_gap,
                                 expected=(nats.errors.Error, asyncio.TimeoutError))

    async def start(self) -> None:
        await self.beat()
        await self._beating.start()

    def poke(self) -> None:
        """Report soon, e.g. after the reported figures changed."""
        self._beating.poke()

    async def beat(self) -> None:
        body = dict(await self.value(), ts=time.time())
        await self.kv.put(self.key, json.dumps(body).encode())

    async def others(self, prefix: str, timeout: float = 1.0) -> bool:
        """Whether keys other than this one start with `prefix` (False if the
        bucket cannot say within `timeout`: NATS may be what is going away)."""
        try:
            keys = await asyncio.wait_for(self.kv.keys(), timeout)
        except Exception:
            return False
        return any(key.startswith(prefix) and key != self.key for key in keys)

    async def stop(self, remove: bool = True) -> None:
        await self._beating.stop()
        if not remove:
            return
        try:
            await self.kv.delete(self.key)
        except Exception:
            log.warning("could not remove %s from the registry", self.key)


class KvMirror:
    """An in-memory copy of a bucket, kept current by a watcher. A watcher
    whose consumer went down with a NATS server would stay silent for a
    while, so a silent mirror asks the bucket for its last revision and,
    if it missed any, watches the bucket anew."""

    def __init__(self, kv, check_every: float = 2.0, changed: asyncio.Event | None = None):
        self.kv = kv
        self.entries: dict[str, dict[str, Any]] = {}
        # Set on every update: for a follower made before this mirror.
        self.changed = changed if changed is not None else asyncio.Event()
        self._newest = 0.0
        self._revision = 0
        self._heard = False
        self._watcher = None
        self._follower: asyncio.Task | None = None
        self._guard = Periodic("checking a KV watcher", check_every, self._check,
                               expected=(nats.errors.Error, asyncio.TimeoutError))

    async def start(self) -> None:
        await self._watch()
        await self._guard.start()

    async def _watch(self) -> None:
        """(Re)subscribes; returns once the bucket's current entries are in."""
        last = (await self.kv.status()).stream_info.state.last_seq
        await self._stop_following()
        self._watcher = await self.kv.watchall()
        ready = asyncio.Event()
        self._follower = asyncio.create_task(self._follow(self._watcher, ready))
        await asyncio.wait_for(ready.wait(), WATCH_TIMEOUT)
        # Whatever the bucket held up to `last` has just been replayed (or has expired).
        self._revision = max(self._revision, last)

    async def _check(self) -> None:
        if self._heard:
            self._heard = False
            return
        status = await self.kv.status()
        if status.stream_info.state.last_seq > self._revision:
            log.warning("the watcher of KV bucket %s missed updates; watching it anew", status.bucket)
            await self._watch()

    async def _follow(self, watcher, ready: asyncio.Event) -> None:
        async for entry in watcher:
            if entry is None:
                ready.set()
                continue
            self._heard = True
            self._revision = max(self._revision, entry.revision or 0)
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.entries.pop(entry.key, None)
            else:
                try:
                    value = json.loads(entry.value)
                    stamp = float(value.get("ts", 0))
                except (ValueError, TypeError, AttributeError):
                    log.warning("ignoring malformed KV entry %s", entry.key)
                else:
                    # The newest report wins, not the last to arrive: a put
                    # sent before its host was cut off can reach the bus after
                    # those sent on the connection made once it was back.
                    if stamp >= float(self.entries.get(entry.key, {}).get("ts", 0)):
                        self.entries[entry.key] = value
                    self._newest = max(self._newest, stamp)
            ready.set()
            self.changed.set()

    def fresh(self, prefix: str, max_age: float) -> dict[str, dict[str, Any]]:
        """Entries under `prefix` stamped at most `max_age` before the newest
        stamp this mirror has seen (or before now, if that is earlier). While
        no update arrives at all, as when a NATS node died and its streams
        elect new leaders, nothing ages: silence of the bus is not the death
        of every service."""
        now = min(time.time(), self._newest)
        return {
            k: v for k, v in self.entries.items() if k.startswith(prefix) and now - v.get("ts", 0) <= max_age
        }

    async def _stop_following(self) -> None:
        if self._follower:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._watcher:
            # Otherwise updates would keep piling up for a reader that is gone.
            try:
                await self._watcher.stop()
            except nats.errors.Error as exc:
                log.info("stopping a KV watcher: %s", exc)
        self._watcher = self._follower = None

    async def stop(self) -> None:
        await self._guard.stop()
        await self._stop_following()
