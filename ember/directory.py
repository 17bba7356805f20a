"""Where each service's healthy instances are (and, for volume services,
their storage hosts): the registry KV mirrored in memory. The internal
client (ember.internal_client) picks the instance of each call with it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection

from ember import kv, subjects
from ember.errors import Unavailable


class Directory:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self.mirror: kv.KvMirror | None = None
        # Set whenever the registry changes.
        self.changed = asyncio.Event()
        self._turn = itertools.count()
        # address -> when a call to it could not connect
        self._down: dict[str, float] = {}

    async def start(self, js) -> None:
        bucket = await kv.open_bucket(js, subjects.REGISTRY_BUCKET, self.ttl)
        self.mirror = kv.KvMirror(bucket, changed=self.changed)
        await self.mirror.start()

    def addresses(self, service: str, host: str = "") -> list[str]:
        """Fresh instances of the service; with `host`, only that storage host's."""
        entries = self.mirror.fresh(service + ".", self.ttl).values()
        return sorted(
            v["address"] for v in entries
            if (not host or v.get("host") == host) and v.get("ts", 0) > self._down.get(v["address"], 0)
        )

    def mark_down(self, address: str) -> None:
        """A call to `address` could not connect: a killed instance stays in
        the registry until its entry expires, and until then (or until it
        heartbeats again, restarted) calls go to the others."""
        self._down[address] = time.time()

    def pick(self, service: str, avoid: Collection[str] = (), host: str = "") -> str:
        """Round-robin over the fresh instances (of one storage host, if
        given), skipping those in `avoid` while another exists."""
        addresses = self.addresses(service, host)
        untried = [a for a in addresses if a not in avoid]
        addresses = untried or addresses
        if not addresses and host:
            raise Unavailable(
                f"storage host {host} has no {service} service running; this call needs that host",
                "STORAGE_HOST_UNAVAILABLE", {"service": service, "host": host},
            )
        if not addresses:
            raise Unavailable(
                f"no {service} service instance is running; start one with `python -m {service}`",
                metadata={"service": service},
            )
        return addresses[next(self._turn) % len(addresses)]

    async def stop(self) -> None:
        if self.mirror:
            await self.mirror.stop()
