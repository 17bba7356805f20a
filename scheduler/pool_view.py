"""The scheduler's live view of every pool: the capabilities KV mirrored in
memory, minus what this scheduler placed since each pool's last report."""

from __future__ import annotations

import time

from ember import kv, subjects
from scheduler.pools import PoolState


class PoolView:
    def __init__(self, service_down_after: float):
        self.service_down_after = service_down_after
        self.mirror: kv.KvMirror | None = None
        self._placed: dict[str, tuple[float, int]] = {}

    async def start(self, js) -> None:
        bucket = await kv.open_bucket(js, subjects.CAPABILITIES_BUCKET, ttl=None)
        self.mirror = kv.KvMirror(bucket)
        await self.mirror.start()

    def is_stale(self, pool: PoolState) -> bool:
        return time.time() - pool.reported_at > self.service_down_after

    def all_pools(self) -> list[PoolState]:
        pools = []
        for report in self.mirror.entries.values():
            try:
                pool = PoolState.from_report(report)
            except (KeyError, TypeError, ValueError):
                continue
            placed = self._placed.get(pool.name)
            if placed and placed[0] == pool.reported_at:
                pool.consume(placed[1])
            pools.append(pool)
        return sorted(pools, key=lambda p: p.name)

    def record_placement(self, pool: PoolState, size_gb: int) -> None:
        reported, placed = self._placed.get(pool.name, (pool.reported_at, 0))
        if reported != pool.reported_at:
            placed = 0
        self._placed[pool.name] = (pool.reported_at, placed + size_gb)

    async def stop(self) -> None:
        if self.mirror:
            await self.mirror.stop()
