"""Pools as the scheduler sees them: one capacity report each, with Cinder's
capacity figures (reserved space, thin over-subscription, virtual free)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ember import pool_names


@dataclasses.dataclass
class PoolState:
    name: str
    host: str
    backend: str
    pool: str
    total_capacity_gb: float
    free_capacity_gb: float
    provisioned_capacity_gb: float
    reserved_percentage: int
    max_over_subscription_ratio: float
    thin_provisioning_support: bool
    capabilities: dict[str, str]
    reported_at: float
    availability_zone: str = ""
    # When a create last failed on the pool's backend, and why; 0 if it has not.
    failed_at: float = 0.0
    failure: str = ""

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> "PoolState":
        return cls(
            name=report["name"],
            host=report["host"],
            backend=report["backend"],
            pool=report["pool"],
            total_capacity_gb=float(report["total_capacity_gb"]),
            free_capacity_gb=float(report["free_capacity_gb"]),
            provisioned_capacity_gb=float(report["provisioned_capacity_gb"]),
            reserved_percentage=int(report.get("reserved_percentage", 0)),
            max_over_subscription_ratio=float(report.get("max_over_subscription_ratio", 20.0)),
            thin_provisioning_support=bool(report.get("thin_provisioning_support", False)),
            capabilities={str(k): str(v) for k, v in (report.get("capabilities") or {}).items()},
            reported_at=float(report["ts"]),
            availability_zone=str(report.get("availability_zone", "")),
            failed_at=float((report.get("failure") or {}).get("at", 0.0)),
            failure=str((report.get("failure") or {}).get("reason", "")),
        )

    @property
    def backend_name(self) -> str:
        """host@backend: what a failed create rules out."""
        return pool_names.qualified_backend(self.name)

    @property
    def thin(self) -> bool:
        return self.thin_provisioning_support and self.max_over_subscription_ratio >= 1

    @property
    def reserved_gb(self) -> float:
        return math.floor(self.total_capacity_gb * self.reserved_percentage / 100)

    @property
    def total_available_gb(self) -> float:
        available = self.total_capacity_gb - self.reserved_gb
        return available * self.max_over_subscription_ratio if self.thin else available

    @property
    def virtual_free_gb(self) -> float:
        if self.thin:
            return self.total_available_gb - self.provisioned_capacity_gb
        return min(self.free_capacity_gb, self.total_available_gb - self.provisioned_capacity_gb)

    def consume(self, size_gb: int) -> None:
        """Counts a volume just placed here until the pool's next report says so."""
        self.provisioned_capacity_gb += size_gb
        if not self.thin:
            self.free_capacity_gb -= size_gb
