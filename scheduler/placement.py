"""Choosing a pool, Cinder's filter scheduler way: filters drop pools that
cannot take the request (each with a reason a person can read), weighers rank
the rest; plain functions over PoolState."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from ember import extra_specs, pool_names
from scheduler.pools import PoolState

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Request:
    size_gb: int
    availability_zone: str = ""
    extra_specs: dict[str, str] = dataclasses.field(default_factory=dict)
    # Pools that failed this volume already; their whole backends are ruled out.
    tried: list[str] = dataclasses.field(default_factory=list)
    # host@backend the volume must go to (a copy of a snapshot or volume there).
    backend: str = ""


@dataclasses.dataclass
class Policy:
    """The scheduler's settings that placement applies."""

    down_after: float = 60.0
    failure_cooloff: float = 60.0
    free_capacity_multiplier: float = 1.0
    allocated_capacity_multiplier: float = 0.0
    now: float = dataclasses.field(default_factory=time.time)


@dataclasses.dataclass
class Decision:
    chosen: PoolState | None
    weights: dict[str, float]
    rejected: dict[str, str]

    def reason(self) -> str:
        if not self.rejected:
            return "no storage pool has reported capacity"
        return "no valid backend: " + "; ".join(f"{name}: {why}" for name, why in sorted(self.rejected.items()))


Filter = Callable[[PoolState, Request, Policy], "str | None"]


def fresh_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    age = policy.now - pool.reported_at
    if age > policy.down_after:
        return f"no report for {age:.0f}s (a pool is down after {policy.down_after:g}s)"
    return None


def health_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    since = policy.now - pool.failed_at
    if pool.failed_at and since < policy.failure_cooloff:
        return f"a create failed on its backend {since:.0f}s ago ({pool.failure}); skipped for {policy.failure_cooloff:g}s"
    return None


def tried_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    if pool.backend_name in {pool_names.qualified_backend(name) for name in request.tried}:

        return "a create already failed on this backend for this volume"
    return None


def backend_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    if request.backend and pool.backend_name != request.backend:
        return f"the source of the copy is on backend {request.backend}"
    return None


def availability_zone_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    if request.availability_zone and pool.availability_zone != request.availability_zone:
        return f"in zone {pool.availability_zone!r}, not {request.availability_zone!r}"
    allowed = extra_specs.zones(request.extra_specs)
    if allowed and pool.availability_zone not in allowed:
        return f"in zone {pool.availability_zone!r}; the volume type allows {', '.join(allowed)}"
    return None


def capacity_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    """Cinder's CapacityFilter; a thick volume type needs a thick backend."""
    size = request.size_gb
    if extra_specs.thick(request.extra_specs) and pool.thin_provisioning_support:
        return "the volume type wants thick provisioning; this backend is thin"
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


def capabilities_filter(pool: PoolState, request: Request, policy: Policy) -> str | None:
    unmet = extra_specs.unmet(pool.capabilities, request.extra_specs)
    return "capabilities not met: " + "; ".join(unmet) if unmet else None


FILTERS: tuple[Filter, ...] = (
    fresh_filter, health_filter, tried_filter, backend_filter, availability_zone_filter, capacity_filter,
    capabilities_filter,
)


def _normalised(values: dict[str, float], multiplier: float) -> dict[str, float]:
    """Cinder's weight normalisation: each weigher's values to [0, 1], times its multiplier."""
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {name: multiplier * ((v - low) / span if span else 0.0) for name, v in values.items()}


def free_capacity_weights(pools: list[PoolState], multiplier: float) -> dict[str, float]:
    """Cinder's CapacityWeigher: virtual free; positive spreads, negative stacks."""
    return _normalised({p.name: p.virtual_free_gb for p in pools}, multiplier)


def allocated_capacity_weights(pools: list[PoolState], multiplier: float) -> dict[str, float]:
    """Cinder's AllocatedCapacityWeigher: provisioned space; negative prefers the emptiest."""
    return _normalised({p.name: p.provisioned_capacity_gb for p in pools}, multiplier)


def judge(pool: PoolState, request: Request, policy: Policy) -> str | None:
    """Why the pool cannot take the request, or None if it can."""
    for check in FILTERS:
        why = check(pool, request, policy)
        if why:
            return why
    return None


def place(pools: list[PoolState], request: Request, policy: Policy | None = None) -> Decision:
    policy = policy or Policy()
    rejected: dict[str, str] = {}
    passed = []
    for pool in pools:
        why = judge(pool, request, policy)
        if why:
            rejected[pool.name] = why
        else:
            passed.append(pool)
    free = free_capacity_weights(passed, policy.free_capacity_multiplier)
    allocated = allocated_capacity_weights(passed, policy.allocated_capacity_multiplier)
    weights = {p.name: free[p.name] + allocated[p.name] for p in passed}
    # Ties go to the pool with the most virtual free space, then by name, so the choice is stable.
    chosen = max(passed, key=lambda p: (weights[p.name], p.virtual_free_gb, p.name), default=None)
    log.info(
        "placing %d GiB (zone %r, specs %s): weights %s, rejected %s -> %s",
        request.size_gb, request.availability_zone, request.extra_specs, weights, rejected,
        chosen.name if chosen else None,
    )
    return Decision(chosen, weights, rejected)
