"""Capacity reports: every pool of this host puts its figures, zone and
capabilities into the capabilities KV every few seconds, soon after a create
or delete, and with the last create that failed on its backend."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from ember import kv, subjects
from ember.config import Settings
from ember.pool_names import PoolName
from volume.backends import Backends
from volume.drivers.base import Driver

log = logging.getLogger(__name__)

# Reports after creates and deletes come at most this often: between reports
# each scheduler counts what it placed itself.
MIN_REPORT_GAP = 0.5


class CapacityReporter:
    def __init__(self, settings: Settings, backends: Backends):
        self.settings, self.backends = settings, backends
        self._beats: dict[str, list[kv.Heartbeat]] = {}
        self._failures: dict[str, dict] = {}

    def _value(self, driver: Driver, pool: str):
        config = driver.config

        async def value() -> dict:
            report = await asyncio.to_thread(driver.report, pool)
            body = {
                "name": str(PoolName(self.settings.host, driver.backend, pool)),
                "host": self.settings.host,
                "backend": driver.backend,
                "availability_zone": self.settings.availability_zone,
                **dataclasses.asdict(report),
                "reserved_percentage": config.reserved_percentage,
                "max_over_subscription_ratio": config.max_over_subscription_ratio,
                "thin_provisioning_support": config.thin,
                "capabilities": driver.capabilities,
            }
            if driver.backend in self._failures:
                body["failure"] = self._failures[driver.backend]
            return body

        return value

    async def start(self, js) -> None:
        bucket = await kv.open_bucket(js, subjects.CAPABILITIES_BUCKET, ttl=None)
        for driver in self.backends.drivers.values():
            beats = self._beats[driver.backend] = []
            for pool in driver.pools:
                key = subjects.capability_key(self.settings.host, driver.backend, pool)
                beat = kv.Heartbeat(bucket, key, self._value(driver, pool), self.settings.report_interval, MIN_REPORT_GAP)
                await beat.start()
                beats.append(beat)

    def changed(self, backend: str) -> None:
        """Report the backend's pools soon: its figures changed."""
        for beat in self._beats.get(backend, ()):
            beat.poke()

    async def create_failed(self, backend: str, reason: str) -> None:
        """Schedulers skip the backend for a while once they see this: it is
        reported at once, before the create goes back to a scheduler."""
        self._failures[backend] = {"at": time.time(), "reason": reason}
        for beat in self._beats.get(backend, ()):
            try:
                await beat.beat()
            except Exception as exc:
                log.warning("reporting the failure of backend %s failed: %s", backend, exc)

    def create_succeeded(self, backend: str) -> None:
        self._failures.pop(backend, None)
        self.changed(backend)

    async def stop(self) -> None:
        # Reports stay in the bucket: the scheduler marks them stale by age, and
        # operators still see the pool in ListPools.
        for beats in self._beats.values():
            for beat in beats:
                await beat.stop(remove=False)
