"""A request_id (AIP-155) makes starting an operation happen once: a call
that repeats an earlier one's request_id gets that call's operation back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ember.auth import Identity
from ember.db import Operation, write_transaction
from ember.prepared import Param, Prepared
from ember.started import Started

_BY_REQUEST = Prepared(
    lambda: Operation.select().where(
        Operation.project_id == Param("project"), Operation.verb == Param("verb"),
        Operation.request_id == Param("request_id"),
    )
)


@contextlib.contextmanager
def once(identity: Identity, verb: str, request_id: str | None) -> Iterator[Started | None]:
    """The write transaction that starts a `verb` operation, and what to
    answer instead when an earlier call with this request_id started one
    (None when none did): that operation again, with no task to publish."""
    with write_transaction():
        earlier = request_id and _BY_REQUEST.first(project=identity.project_id, verb=verb, request_id=request_id)
        yield Started(earlier, None) if earlier else None
