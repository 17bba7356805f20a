"""Capacity reports: every pool of this host puts its figures into the
capabilities KV every few seconds, and soon after a create or delete."""

from __future__ import annotations

import asyncio
import dataclasses

from ember import kv, subjects
from ember.config import Settings
from volume.drivers.file import FileDriver

# Reports after creates and deletes come at most this often: between reports
# each scheduler counts what it placed itself.
MIN_REPORT_GAP = 0.5


def pool_name(host: str, backend: str, pool: str) -> str:
    return f"{host}@{backend}#{pool}"


class CapacityReporter:
    def __init__(self, settings: Settings, driver: FileDriver):
        self.settings, self.driver = settings, driver
        self._beats: list[kv.Heartbeat] = []

    def _value(self, pool: str):
        async def value() -> dict:
            report = await asyncio.to_thread(self.driver.report, pool)
            return {
                "name": pool_name(self.settings.host, self.driver.backend, pool),
                "host": self.settings.host,
                "backend": self.driver.backend,
                **dataclasses.asdict(report),
                "reserved_percentage": self.settings.reserved_percentage,
                "max_over_subscription_ratio": self.settings.max_over_subscription_ratio,
                "thin_provisioning_support": True,
                "capabilities": self.driver.capabilities,
            }

        return value

    async def start(self, js) -> None:
        bucket = await kv.open_bucket(js, subjects.CAPABILITIES_BUCKET, ttl=None)
        for pool in self.driver.pools:
            key = subjects.capability_key(self.settings.host, self.driver.backend, pool)
            beat = kv.Heartbeat(bucket, key, self._value(pool), self.settings.report_interval, MIN_REPORT_GAP)
            await beat.start()
            self._beats.append(beat)

    def poke(self) -> None:
        for beat in self._beats:
            beat.poke()

    async def stop(self) -> None:
        # Reports stay in the bucket: the scheduler marks them stale by age, and
        # operators still see the pool in ListPools.
        for beat in self._beats:
            await beat.stop(remove=False)
