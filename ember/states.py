"""Volume statuses (Cinder's names), the transitions allowed between them, and
the compare-and-set update that is the only way a status changes."""

from __future__ import annotations

from typing import Iterable

from ember.db import Volume, utcnow
from ember.prepared import Param, Prepared, params_for

CREATING = "creating"
AVAILABLE = "available"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"

TRANSITIONS: dict[str, frozenset[str]] = {
    CREATING: frozenset({AVAILABLE, ERROR}),
    AVAILABLE: frozenset({DELETING}),
    ERROR: frozenset({DELETING}),
    ERROR_DELETING: frozenset({DELETING}),
    DELETING: frozenset({ERROR_DELETING}),
}
DELETABLE = frozenset(s for s, targets in TRANSITIONS.items() if DELETING in targets)


class InvalidTransition(ValueError):
    pass


def check(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"volume cannot go from {current} to {new}")


_cas_statements: dict[tuple[int, tuple[str, ...]], Prepared] = {}


def _cas_statement(expected_count: int, names: tuple[str, ...]) -> Prepared:
    key = (expected_count, names)
    statement = _cas_statements.get(key)
    if statement is None:
        fields = [Volume.status, *(Volume._meta.fields[n] for n in names)]
        statement = _cas_statements[key] = Prepared(
            lambda: Volume.update(params_for(fields)).where(
                Volume.id == Param("id"), Volume.status.in_([Param(f"expected{i}") for i in range(expected_count)])
            )
        )
    return statement


def cas_status(volume_id: str, expected: Iterable[str], new: str, **fields) -> bool:
    """Sets `new` (and `fields`) only if the volume is still in one of
    `expected`; False when another request changed it first (or it is gone)."""
    expected = tuple(expected)
    for current in expected:
        check(current, new)
    fields.setdefault("updated_at", utcnow())
    statement = _cas_statement(len(expected), tuple(sorted(fields)))
    bound = {f"expected{i}": status for i, status in enumerate(expected)}
    return statement.execute(id=volume_id, status=new, **fields, **bound) == 1
