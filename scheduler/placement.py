"""Choosing a pool: filters drop pools that cannot take the request (each with
a reason), weighers rank the rest; plain functions over PoolState."""

from __future__ import annotations

import dataclasses
import logging

from scheduler.pools import PoolState

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Request:
    size_gb: int
    tried: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Decision:
    chosen: PoolState | None
    weights: dict[str, float]
    rejected: dict[str, str]

    def reason(self) -> str:
        if not self.rejected:
            return "no storage pool has reported capacity"
        return "no valid backend: " + "; ".join(f"{name}: {why}" for name, why in sorted(self.rejected.items()))


def tried_filter(pool: PoolState, request: Request) -> str | None:
    if pool.name in request.tried:
        return "already tried for this volume"
    return None


def capacity_filter(pool: PoolState, request: Request) -> str | None:
    """Cinder's CapacityFilter."""
    size = request.size_gb
    if pool.total_capacity_gb <= 0:
        return "reports no capacity"
    if pool.thin:
        base = pool.total_capacity_gb - pool.reserved_gb
        ratio = (pool.provisioned_capacity_gb + size) / base if base > 0 else float("inf")
        if ratio > pool.max_over_subscription_ratio:
            return (
                f"{size} GiB would over-subscribe it {ratio:.1f}x "
                f"(limit {pool.max_over_subscription_ratio:g}x)"
            )
    if pool.virtual_free_gb < size:
        return f"{size} GiB requested, {pool.virtual_free_gb:g} GiB free"
    return None


FILTERS = (tried_filter, capacity_filter)


def free_capacity_weights(pools: list[PoolState], multiplier: float) -> dict[str, float]:
    """Cinder's CapacityWeigher: virtual free normalised to [0, 1], times the multiplier."""
    if not pools:
        return {}
    values = {p.name: p.virtual_free_gb for p in pools}
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {name: multiplier * ((v - low) / span if span else 0.0) for name, v in values.items()}


def place(pools: list[PoolState], request: Request, multiplier: float = 1.0) -> Decision:
    rejected: dict[str, str] = {}
    passed = []
    for pool in pools:
        for check in FILTERS:
            why = check(pool, request)
            if why:
                rejected[pool.name] = why
                break
        else:
            passed.append(pool)
    weights = free_capacity_weights(passed, multiplier)
    # Ties go to the pool with the most virtual free space, then by name, so the choice is stable.
    chosen = max(passed, key=lambda p: (weights[p.name], p.virtual_free_gb, p.name), default=None)
    log.info(
        "placing %d GiB: weights %s, rejected %s -> %s",
        request.size_gb, weights, rejected, chosen.name if chosen else None,
    )
    return Decision(chosen, weights, rejected)
