"""Per-project quotas: limits (a project's own, else the configured default),
and usage counters changed in the transaction that creates or removes what
they count, each reservation one conditional update, so concurrent requests
can never pass a limit together. Resources are "volumes", "gigabytes", and
per volume type "volumes:<type id>" and "gigabytes:<type id>"."""

from __future__ import annotations

from ember.db import QuotaLimit, QuotaUsage
from ember.errors import ResourceExhausted
from ember.prepared import Param, Prepared

UNLIMITED = -1
UNITS = {"volumes": "volumes", "gigabytes": "GiB", "backup_gigabytes": "backup GiB"}


KINDS = ("volumes", "gigabytes")
# Every project-wide resource; KINDS also exist per volume type.
RESOURCES = (*KINDS, "snapshots", "backups", "backup_gigabytes")


def defaults(settings) -> dict[str, int]:
    """The configured limits of projects that have none of their own."""
    return {"volumes": settings.quota_volumes, "gigabytes": settings.quota_gigabytes,
            "snapshots": settings.quota_snapshots, "backups": settings.quota_backups,
            "backup_gigabytes": settings.quota_backup_gigabytes}


def per_type(kind: str, type_id: str) -> str:
    return f"{kind}:{type_id}"


def per_type_label(kind: str, type_name: str) -> str:
    """How users name a per-type resource: stored by type id, shown by name."""
    return f"{kind}_{type_name}"


_LIMITS = Prepared(lambda: QuotaLimit.select().where(QuotaLimit.project_id == Param("project")))


def limits(project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    """The project's limits: its own where set, else `defaults`; resources in
    neither have no limit."""
    return {**defaults, **{row.resource: row.hard_limit for row in _LIMITS.rows(project=project_id)}}


def set_limits(project_id: str, new_limits: dict[str, int]) -> None:
    for resource, limit in new_limits.items():
        QuotaLimit.insert(project_id=project_id, resource=resource, hard_limit=limit).on_conflict(
            conflict_target=[QuotaLimit.project_id, QuotaLimit.resource], preserve=[QuotaLimit.hard_limit]
        ).execute()


def _row(project_id, resource):
    return (QuotaUsage.project_id == project_id) & (QuotaUsage.resource == resource)


_ADD = Prepared(
    lambda: QuotaUsage.update(in_use=QuotaUsage.in_use + Param("delta")).where(_row(Param("project"), Param("resource")))
)
_ADD_WITHIN = Prepared(
    lambda: QuotaUsage.update(in_use=QuotaUsage.in_use + Param("delta")).where(
        _row(Param("project"), Param("resource")), QuotaUsage.in_use + Param("delta") <= Param("limit")
    )
)


def _add(project_id: str, resource: str, delta: int, limit: int = UNLIMITED) -> bool:
    if limit == UNLIMITED:
        return _ADD.execute(project=project_id, resource=resource, delta=delta) == 1
    return _ADD_WITHIN.execute(project=project_id, resource=resource, delta=delta, limit=limit) == 1


def _count(project_id: str, resource: str, delta: int, limit: int) -> int | None:
    """Adds `delta` to the usage unless that passes `limit`: None once added,
    else what is in use. Under PostgreSQL each statement sees what committed
    before it, so the usage row may be made or changed by a concurrent
    transaction between ours: a refused add is tried again while the
    numbers it then sees allow it."""
    used = 0
    for _ in range(3):
        if _add(project_id, resource, delta, limit):
            return None
        used = QuotaUsage.select(QuotaUsage.in_use).where(_row(project_id, resource)).scalar()
        if used is None:
            QuotaUsage.insert(project_id=project_id, resource=resource, in_use=0).on_conflict_ignore().execute()
            used = 0
        elif limit != UNLIMITED and used + delta > limit:
            return used
    return used


def reserve(
    project_id: str, deltas: dict[str, int], limits: dict[str, int], labels: dict[str, str] | None = None
) -> None:
    """Counts `deltas` against the project's `limits` (UNLIMITED = no limit);
    raises ResourceExhausted, changing nothing, if any would pass its limit,
    naming the resource by its label (e.g. "volumes_ssd" for a per-type one).
    Call inside the write transaction that creates what is counted."""
    for resource, delta in deltas.items():
        limit = limits.get(resource, UNLIMITED)
        used = _count(project_id, resource, delta, limit)
        if used is None:
            continue
        label = (labels or {}).get(resource, resource)
        raise ResourceExhausted(
            f"project {project_id} has {used} of its {limit} {UNITS.get(label, label)} quota in use; "
            f"{delta} more would exceed it",
            metadata={"quota": label, "limit": limit, "used": used, "requested": delta},
        )


def release(project_id: str, deltas: dict[str, int]) -> None:
    """Gives back what `reserve` counted; inside the transaction that removes it."""
    for resource, delta in deltas.items():
        _add(project_id, resource, -delta)


def usage(project_id: str) -> dict[str, int]:
    rows = QuotaUsage.select(QuotaUsage.resource, QuotaUsage.in_use).where(QuotaUsage.project_id == project_id)
    return {row.resource: row.in_use for row in rows}
