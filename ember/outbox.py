"""The task outbox: an operation's next task is written into its row in the
transaction that makes the task necessary, published after the commit, and
re-published by the reconciler until the transaction that finishes the
operation clears it (or its deadline fails it)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import operator
from typing import Any, Awaitable, Callable

from ember import logs, writer
from ember.bus import Bus
from ember.db import Operation, utcnow, write_transaction
from ember.prepared import Param, Prepared, params_for

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Task:
    """A task carries the id of the request it serves, so the handlers of
    each hop log under the id the gateway gave the call."""

    subject: str
    msg_id: str
    payload: dict[str, Any]

    def __post_init__(self):
        request_id = logs.request_id()
        if request_id and "request_id" not in self.payload:
            object.__setattr__(self, "payload", {**self.payload, "request_id": request_id})


def _later(seconds: float) -> datetime.datetime:
    return utcnow() + datetime.timedelta(seconds=seconds)


def columns(task: Task, retry_after: float) -> dict[str, Any]:
    """The Operation fields that record `task` as the operation's next step."""
    return dict(
        task_subject=task.subject, task_msg_id=task.msg_id, task_payload=task.payload,
        publish_after=_later(retry_after),
    )


_FORWARD = Prepared(
    lambda: Operation.update(
        params_for([Operation.task_subject, Operation.task_msg_id, Operation.task_payload, Operation.publish_after])
    ).where(Operation.id == Param("id"), Operation.done == False)  # noqa: E712
)


def forward(operation_id: str, task: Task, retry_after: float) -> bool:
    """Points an unfinished operation at its next hop; False when it already finished."""
    with write_transaction():
        return _FORWARD.execute(id=operation_id, **columns(task, retry_after)) == 1


async def publish(bus: Bus, task: Task) -> None:
    """Best effort: if this fails, the reconciler publishes the task later.
    A task for another host's queue, which this process may not publish to,
    waits for that host's reconciler."""
    if not bus.may_publish(task.subject):
        log.info("task %s is for %s, another host's queue: its host publishes it", task.msg_id, task.subject)
        return
    try:
        await bus.publish_task(task.subject, task.payload, task.msg_id)
    except Exception as exc:
        log.warning("publishing %s failed (%s); the reconciler will retry", task.msg_id, exc)


def pending_task(row: Operation) -> Task:
    return Task(row.task_subject, row.task_msg_id, row.task_payload)


def republished(task: Task, claimed_at: datetime.datetime) -> Task:
    """The task under a message id of its own for this re-publish (`claimed_at`
    is the due time its claim replaced, so one claim gives one id). JetStream
    drops a message whose id it stored within its duplicate window, and a
    re-publish is needed exactly when the first copy was stored and then went
    unfinished: with the original id it would be dropped for two minutes."""
    return dataclasses.replace(task, msg_id=f"{task.msg_id}.retry-{claimed_at:%Y%m%dT%H%M%S%f}")


def _claim_due(retry_after: float, deadline: float, prefixes: tuple[str, ...] | None,
               limit: int = 100) -> list[Operation]:
    """Unfinished operations due for a re-publish whose task subject starts
    with one of `prefixes` (any, for None), or past their `deadline` (to fail
    them), each claimed by pushing its next attempt back, so that several
    reconcilers do not publish it at once."""
    now = utcnow()
    claimed = []
    due = (Operation.publish_after <= now) & (Operation.done == False)  # noqa: E712
    if prefixes is not None:
        mine = functools.reduce(operator.or_, (Operation.task_subject.startswith(p) for p in prefixes),
                                Operation.created_at < now - datetime.timedelta(seconds=deadline))
        due &= mine
    with write_transaction():
        due = (
            Operation.select(
                Operation.id, Operation.verb, Operation.target, Operation.created_at, Operation.publish_after,
                Operation.task_subject, Operation.task_msg_id, Operation.task_payload,
            )
            .where(due)
            .limit(limit)
        )
        for row in due:
            won = (
                Operation.update(publish_after=_later(retry_after))
                .where(Operation.id == row.id, Operation.publish_after == row.publish_after)
                .execute()
            )
            if won:
                claimed.append(row)
    return claimed


# How often a service looks for tasks nobody finished.
RECONCILE_EVERY = 2.0


class Reconciler:
    """Re-publishes tasks nobody finished; fails those past their deadline.
    Its owner runs run_once() every RECONCILE_EVERY seconds."""

    def __init__(
        self,
        bus: Bus,
        retry_after: float,
        deadline: float,
        expire: Callable[[Operation], Awaitable[None]],
    ):
        self.bus, self.retry_after, self.deadline, self.expire = bus, retry_after, deadline, expire

    async def run_once(self) -> int:
        rows = await writer.run(_claim_due, self.retry_after, self.deadline, self.bus.task_prefixes)
        oldest = utcnow() - datetime.timedelta(seconds=self.deadline)
        for row in rows:
            if row.created_at < oldest:
                log.warning("operation %s passed its deadline; failing it", row.id)
                await self.expire(row)
            else:
                task = republished(pending_task(row), row.publish_after)
                log.info("re-publishing unfinished task %s on %s as %s", row.task_msg_id, row.task_subject,
                         task.msg_id)
                await publish(self.bus, task)
        return len(rows)
