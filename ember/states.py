"""Volume, snapshot and backup statuses (Cinder's names), the transitions
allowed between them, and the compare-and-set update that is the only way a
volume's status changes."""

from __future__ import annotations

from typing import Iterable

from ember.db import Volume, utcnow
from ember.prepared import Param, Prepared, params_for

CREATING = "creating"
AVAILABLE = "available"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
EXTENDING = "extending"
ERROR_EXTENDING = "error_extending"
BACKING_UP = "backing-up"
RESTORING_BACKUP = "restoring-backup"
ERROR_RESTORING = "error_restoring"
RESTORING = "restoring"
# Every status a volume can have, for admins' reset-status.
ALL = ("creating", "available", "reserved", "attaching", "in-use", "detaching", "extending", "deleting", "error",
       "error_deleting", "error_extending", "backing-up", "restoring-backup", "error_restoring")

# While attachments come and go, a volume's status follows them
# (attach_status): the most advanced attachment sets it.
ATTACH_FLOW = (AVAILABLE, RESERVED, ATTACHING, IN_USE, DETACHING)
_FOLLOWING = frozenset(ATTACH_FLOW) - {AVAILABLE}

TRANSITIONS: dict[str, frozenset[str]] = {
    CREATING: frozenset({AVAILABLE, ERROR, RESTORING_BACKUP}),
    AVAILABLE: frozenset({DELETING, RESERVED, ATTACHING, EXTENDING, BACKING_UP, RESTORING_BACKUP}),
    BACKING_UP: frozenset({AVAILABLE}),
    RESTORING_BACKUP: frozenset({AVAILABLE, ERROR_RESTORING}),
    ERROR_RESTORING: frozenset({DELETING, RESTORING_BACKUP}),
    EXTENDING: frozenset({AVAILABLE, ERROR_EXTENDING}),
    ERROR_EXTENDING: frozenset({DELETING}),
    RESERVED: frozenset(ATTACH_FLOW) - {RESERVED},
    ATTACHING: frozenset(ATTACH_FLOW) - {ATTACHING},
    IN_USE: frozenset(_FOLLOWING) - {IN_USE},
    DETACHING: frozenset(ATTACH_FLOW) - {DETACHING},
    ERROR: frozenset({DELETING}),
    ERROR_DELETING: frozenset({DELETING}),
    DELETING: frozenset({ERROR_DELETING}),
}
DELETABLE = frozenset(s for s, targets in TRANSITIONS.items() if DELETING in targets)
# An attachment may be made from these; the last three only for multi-attach volumes.
ATTACHABLE = frozenset({AVAILABLE, RESERVED, ATTACHING, IN_USE})

# Attachment statuses, and the volume status each one leads to, strongest first.
ATTACHMENT_RESERVED = "reserved"
ATTACHMENT_ATTACHING = "attaching"
ATTACHMENT_ATTACHED = "attached"
ATTACHMENT_DETACHING = "detaching"
ATTACHMENT_ERROR_ATTACHING = "error_attaching"
# Attachments that hold their volume without being completed yet, and those
# whose export must run once it is recorded.
PENDING = frozenset({ATTACHMENT_RESERVED, ATTACHMENT_ATTACHING})
EXPORTED = frozenset({ATTACHMENT_ATTACHING, ATTACHMENT_ATTACHED})
_BY_ATTACHMENT = (
    (ATTACHMENT_ATTACHED, IN_USE),
    (ATTACHMENT_ATTACHING, ATTACHING),
    (ATTACHMENT_RESERVED, RESERVED),
    (ATTACHMENT_DETACHING, DETACHING),
)


# Snapshots: created from a volume, deleted, or failed on the way.
SNAPSHOT_TRANSITIONS: dict[str, frozenset[str]] = {
    CREATING: frozenset({AVAILABLE, ERROR}),
    AVAILABLE: frozenset({DELETING}),
    ERROR: frozenset({DELETING}),
    ERROR_DELETING: frozenset({DELETING}),
    DELETING: frozenset({ERROR_DELETING}),
}
SNAPSHOT_DELETABLE = frozenset(s for s, targets in SNAPSHOT_TRANSITIONS.items() if DELETING in targets)
SNAPSHOT_ALL = tuple(SNAPSHOT_TRANSITIONS)

# Backups: made from a volume, restored from (any number of times), deleted.
BACKUP_TRANSITIONS: dict[str, frozenset[str]] = {
    CREATING: frozenset({AVAILABLE, ERROR}),
    AVAILABLE: frozenset({DELETING, RESTORING}),
    RESTORING: frozenset({AVAILABLE}),
    ERROR: frozenset({DELETING}),
    ERROR_DELETING: frozenset({DELETING}),
    DELETING: frozenset({ERROR_DELETING}),
}
BACKUP_DELETABLE = frozenset(s for s, targets in BACKUP_TRANSITIONS.items() if DELETING in targets)
# Stable: nothing will change them until someone asks (what Watch waits for).
STABLE = frozenset({AVAILABLE, IN_USE, RESERVED, ERROR, ERROR_DELETING, ERROR_EXTENDING, ERROR_RESTORING})


def attach_status(attachment_statuses: Iterable[str]) -> str:
    """The status a volume takes from its attachments; failed ones count for nothing."""
    present = set(attachment_statuses)
    for attachment_status, volume_status in _BY_ATTACHMENT:
        if attachment_status in present:
            return volume_status
    return AVAILABLE


def predecessors(new: str) -> list[str]:
    """The statuses a volume may be in to move to `new`."""
    return sorted(s for s, targets in TRANSITIONS.items() if new in targets)


class InvalidTransition(ValueError):
    pass


def check(current: str, new: str, table: dict[str, frozenset[str]] = TRANSITIONS, kind: str = "volume") -> None:
    if new not in table.get(current, frozenset()):
        raise InvalidTransition(f"{kind} cannot go from {current} to {new}")


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
