"""What a service does on start about the work it owned: each resource left in
a transitional status is resumed (an unfinished operation will finish it) or
failed cleanly (nothing would), and each decision is logged and announced."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Callable

import peewee

from ember import events, pool_names, states
from ember.db import Backup, Operation, Snapshot, Volume, write_transaction
from ember.volume_tasks import backup_cas, snapshot_cas

log = logging.getLogger(__name__)

# Where a transitional status goes when no operation will ever move it on
# (Cinder's start-up rules: an interrupted backup ends in error, an
# interrupted restore leaves the backup available and the volume in
# error_restoring, a volume being backed up returns to available).
GIVE_UP = {
    "volume": {
        states.CREATING: states.ERROR,
        states.DELETING: states.ERROR_DELETING,
        states.EXTENDING: states.ERROR_EXTENDING,
        states.BACKING_UP: states.AVAILABLE,
        states.RESTORING_BACKUP: states.ERROR_RESTORING,
    },
    "snapshot": {states.CREATING: states.ERROR, states.DELETING: states.ERROR_DELETING},
    "backup": {states.CREATING: states.ERROR, states.RESTORING: states.AVAILABLE, states.DELETING: states.ERROR_DELETING},
}
MODELS = {"volume": Volume, "snapshot": Snapshot, "backup": Backup}


@dataclasses.dataclass(frozen=True)
class Found:
    """A resource in a transitional status, and the unfinished operation that
    will move it on ('' when there is none)."""

    kind: str
    id: str
    status: str
    operation_id: str


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which rows of one kind a service owns: `where` narrows the query."""

    kind: str
    where: Callable[[peewee.ModelSelect], peewee.ModelSelect] = lambda query: query


def volumes_of_host(host: str) -> Scope:
    return Scope("volume", lambda q: q.where(Volume.host.startswith(pool_names.host_prefix(host))))


def snapshots_of_host(host: str) -> Scope:
    on_host = Volume.select(Volume.id).where(Volume.host.startswith(pool_names.host_prefix(host)))
    return Scope("snapshot", lambda q: q.where(Snapshot.volume_id.in_(on_host)))


def unplaced_volumes() -> Scope:
    return Scope("volume", lambda q: q.where(Volume.host == "", Volume.status == states.CREATING))


def backup_scopes() -> list[Scope]:
    """The backup service owns every backup and the volumes it is reading or writing."""
    busy = (states.BACKING_UP, states.RESTORING_BACKUP)
    return [Scope("backup"), Scope("volume", lambda q: q.where(Volume.status.in_(busy)))]


def _operations_by_resource() -> dict[str, str]:
    """Resource id -> unfinished operation: its target and every id its task names."""
    owners: dict[str, str] = {}
    for op in Operation.select(Operation.id, Operation.target, Operation.task_payload).where(~Operation.done):
        owners.setdefault(op.target, op.id)
        for value in (op.task_payload or {}).values():
            if isinstance(value, str) and value:
                owners.setdefault(value, op.id)
    return owners


def find(scopes: list[Scope]) -> list[Found]:
    # Resources first: an operation started later set its resource's status
    # in the same transaction, so it cannot be missed the other way round.
    rows = []
    for scope in scopes:
        model = MODELS[scope.kind]
        query = scope.where(model.select(model.id, model.status).where(model.status.in_(list(GIVE_UP[scope.kind]))))
        rows.extend((scope.kind, r.id, r.status) for r in query)
    owners = _operations_by_resource() if rows else {}
    return [Found(kind, rid, status, owners.get(rid, "")) for kind, rid, status in rows]


def give_up(found: Found, service: str) -> str | None:
    """Fails an orphan with a reason; None if its status moved meanwhile."""
    new = GIVE_UP[found.kind][found.status]
    detail = f"{service} found it {found.status} on start with no operation left to finish it"
    with write_transaction():
        if found.kind == "volume":
            fields = {"status_detail": detail} if new != states.AVAILABLE else {}
            moved = states.cas_status(found.id, [found.status], new, **fields)
        elif found.kind == "snapshot":
            moved = snapshot_cas(found.id, found.status, new, status_detail=detail)
        else:
            moved = backup_cas(found.id, found.status, new, status_detail=detail)
    return new if moved else None


async def sweep(bus, service: str, scopes: list[Scope]) -> list[tuple[Found, str]]:
    """Resumes or fails what `service` owned; (resource, 'resumed' or the
    status it was failed to) for each, in the log and as events too."""
    outcome = []
    for found in await asyncio.to_thread(find, scopes):
        if found.operation_id:
            log.info("start-up: %s %s is %s; operation %s will finish it", found.kind, found.id, found.status,
                     found.operation_id)
            await events.announce(bus, found.kind, found.id, found.status,
                                  extra={"recovery": "resumed", "operation": found.operation_id})
            outcome.append((found, "resumed"))
            continue
        new = await asyncio.to_thread(give_up, found, service)
        if new is None:
            continue
        log.warning("start-up: %s %s was %s with no operation to finish it; now %s", found.kind, found.id,
                    found.status, new)
        await events.announce(bus, found.kind, found.id, new, extra={"recovery": "failed", "was": found.status})
        outcome.append((found, new))
    return outcome
