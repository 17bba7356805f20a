"""Group commit: a process's write transactions run on one thread, and all
that queued up while the previous batch committed share one transaction, so
one fsync serves many requests and writers never fight for SQLite's lock.

Each unit of work runs in its own savepoint: one that raises changes nothing
and gets its exception back, the others still commit. A caller's await ends
only after the commit, so whatever it does next (ack a task, answer a call)
follows durable state.

A batch that loses its database connection before its commit is sent runs
again on a new connection until RETRY_FOR has passed (a database restart or
failover); after that, or if the connection went during the commit (when
nobody can know whether it landed), its callers get UNAVAILABLE.

Batches of several processes share PostgreSQL, and the units of each lock
rows in whatever order they came (two projects' quotas, operations being
claimed and finished): when PostgreSQL ends one batch to break a deadlock,
nothing of it landed, and it runs again."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from typing import Any, Callable, TypeVar

import tenacity

from ember import retry
from ember.db import conflicted, connection_lost, database, write_transaction
from ember.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 128
RETRY_FOR = 30.0
RECONNECT = retry.Backoff(first=0.1, cap=2.0)

_queue: queue.SimpleQueue = queue.SimpleQueue()
_thread: threading.Thread | None = None


def start() -> None:
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_loop, name="ember-db-writer", daemon=True)
        _thread.start()


def stop() -> None:
    """Commits what is queued, then ends the thread."""
    global _thread
    if _thread is not None:
        _queue.put(None)
        _thread.join()
        _thread = None


async def run(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) inside the next group transaction; its result once committed."""
    if _thread is None:
        raise RuntimeError("ember.writer is not started")
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _queue.put((contextvars.copy_context(), fn, args, loop, future))
    return await future


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _loop() -> None:
    while True:
        item = _queue.get()
        if item is None:
            return
        batch = [item]
        while len(batch) < MAX_BATCH:
            try:
                item = _queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                _commit(batch)
                return
            batch.append(item)
        _commit(batch)


class _Lost(Exception):
    """The connection went while the batch ran: run it again."""


class _Deadlocked(Exception):
    """The database ended the batch to break a deadlock: run it again."""


# A batch chosen to break this many deadlocks in a row gives up.
DEADLOCK_ATTEMPTS = 5


def _attempt(batch: list) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    committing = False
    try:
        with write_transaction():
            for context, fn, args, _, _ in batch:
                try:
                    with database.atomic():
                        outcomes.append((True, context.run(fn, *args)))
                except Exception as exc:
                    if connection_lost(exc) or conflicted(exc):
                        raise
                    outcomes.append((False, exc))
            committing = True
    except Exception as exc:
        if conflicted(exc):
            raise _Deadlocked(str(exc)) from exc
        if not connection_lost(exc):
            log.exception("committing %d writes failed", len(batch))
            return [(False, exc)] * len(batch)
        if not committing:
            raise _Lost(str(exc)) from exc
        log.error("the database connection went during a commit of %d writes: %s", len(batch), exc)
        return [(False, Unavailable(f"the database connection was lost while committing ({exc}); "
                                    "the change may or may not have been made: read it back before retrying"))] * len(batch)
    return outcomes


def _attempts(batch: list) -> list[tuple[bool, Any]]:
    """_attempt, again when it lost a deadlock: the batch it waited on goes on
    and commits, and this one then gets the rows it wants."""
    for _ in range(DEADLOCK_ATTEMPTS):
        try:
            return _attempt(batch)
        except _Deadlocked as exc:
            why = str(exc).splitlines()[0]
            log.warning("the database ended %d writes to break a deadlock (%s); running them again", len(batch), why)
    return [(False, Unavailable(f"the database ended these writes to break a deadlock {DEADLOCK_ATTEMPTS} times "
                                f"in a row ({why}); try again"))] * len(batch)


def _reconnect() -> None:
    try:
        database.close()
    except Exception as exc:
        log.debug("closing the lost connection: %s", exc)


def _commit(batch: list) -> None:
    again = retry.policy(f"database connection lost; running {len(batch)} writes again", _Lost, RECONNECT,
                         RETRY_FOR, level=logging.WARNING, then=_reconnect)
    try:
        outcomes = tenacity.Retrying(**again)(_attempts, batch)
    except _Lost as lost:
        log.error("the database stayed unreachable for %.0fs; failing %d writes", RETRY_FOR, len(batch))
        outcomes = [(False, Unavailable(f"the database is unreachable ({lost}); try again"))] * len(batch)
    for (_, _, _, loop, future), (ok, value) in zip(batch, outcomes):
        try:
            loop.call_soon_threadsafe(_settle, future, ok, value)
        except RuntimeError:
            # The caller's event loop has closed: nobody waits for this
            # result, and the writer must go on for everyone else.
            log.warning("a write finished after its caller's event loop closed")
