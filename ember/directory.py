"""Where each service's healthy instances are (and, for volume services,
their storage hosts): the registry KV mirrored in memory, with one cached
channel per instance address. The gateway routes with it; the backup
service finds volume hosts with it."""

from __future__ import annotations

import itertools

import grpc

from ember import kv, subjects
from ember.errors import Unavailable

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]


class Directory:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self.mirror: kv.KvMirror | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._turn = itertools.count()

    async def start(self, js) -> None:
        bucket = await kv.open_bucket(js, subjects.REGISTRY_BUCKET, self.ttl)
        self.mirror = kv.KvMirror(bucket)
        await self.mirror.start()

    def addresses(self, service: str, host: str = "") -> list[str]:
        """Fresh instances of the service; with `host`, only that storage host's."""
        entries = self.mirror.fresh(service + ".", self.ttl).values()
        return sorted(v["address"] for v in entries if not host or v.get("host") == host)

    def pick(self, service: str, avoid: str = "", host: str = "") -> str:
        """Round-robin over the fresh instances (of one storage host, if
        given), skipping `avoid` when another exists."""
        addresses = self.addresses(service, host)
        if len(addresses) > 1 and avoid in addresses:
            addresses.remove(avoid)
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

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        return channel

    async def stop(self) -> None:
        if self.mirror:
            await self.mirror.stop()
        for channel in self._channels.values():
            await channel.close()
