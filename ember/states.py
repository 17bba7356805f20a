"""Volume statuses (Cinder's names), the transitions allowed between them, and
the compare-and-set update that is the only way a status changes."""

from __future__ import annotations

from typing import Iterable

from ember.db import Volume, utcnow

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


def cas_status(volume_id: str, expected: Iterable[str], new: str, **fields) -> bool:
    """Sets `new` only if the volume is still in one of `expected`; False when
    another request changed it first (or it is gone)."""
    expected = tuple(expected)
    for current in expected:
        check(current, new)
    updated = (
        Volume.update(status=new, updated_at=utcnow(), **fields)
        .where(Volume.id == volume_id, Volume.status.in_(expected))
        .execute()
    )
    return updated == 1
