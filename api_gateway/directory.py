"""Where each service's healthy instances are: the registry KV mirrored in
memory, with one cached channel per instance address."""

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

    def addresses(self, service: str) -> list[str]:
        return sorted(v["address"] for v in self.mirror.fresh(service + ".", self.ttl).values())

    def pick(self, service: str, avoid: str = "") -> str:
        """Round-robin over the fresh instances, skipping `avoid` when another exists."""
        addresses = self.addresses(service)
        if len(addresses) > 1 and avoid in addresses:
            addresses.remove(avoid)
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
