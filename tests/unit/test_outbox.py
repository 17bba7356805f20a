"""The outbox in operation rows: forwarding, re-publishing what nobody
finished, and failing what passed its deadline."""

import datetime

from ember import nats_access, operations, outbox, writer
from ember.auth import Identity
from ember.db import Operation, utcnow, write_transaction
from ember.testing import FakeBus

ALICE = Identity("p", "alice")


def start_operation(retry_after: float) -> str:
    op_id = operations.new_id()
    task = outbox.Task("ember.tasks.scheduler.create", op_id, {"operation_id": op_id, "volume_id": "v"})
    with write_transaction():
        operations.new(ALICE, "CreateVolume", "v", None, op_id, task, retry_after)
    return op_id


def test_forward_repoints_an_unfinished_operation_only(database):
    op_id = start_operation(30)
    hop = outbox.Task("ember.tasks.volume.h.create", f"{op_id}.place0", {"pool": "h@file#p"})
    assert outbox.forward(op_id, hop, 30)
    row = Operation.get_by_id(op_id)
    assert (row.task_subject, row.task_msg_id, row.task_payload) == (hop.subject, hop.msg_id, hop.payload)
    with write_transaction():
        assert operations.finish(op_id, response=b"")
    assert Operation.get_by_id(op_id).publish_after is None
    assert not outbox.forward(op_id, hop, 30)


async def test_reconciler_republishes_due_tasks_once_per_retry_window(database):
    writer.start()
    due, later = start_operation(-1), start_operation(30)
    finished = start_operation(-1)
    with write_transaction():
        operations.finish(finished, response=b"")
    bus, expired = FakeBus(), []

    async def expire(row):
        expired.append(row.id)

    reconciler = outbox.Reconciler(bus, retry_after=30, deadline=600, expire=expire)
    assert await reconciler.run_once() == 1
    assert [msg_id.partition(".retry-")[0] for _, msg_id, _ in bus.tasks] == [due]
    assert await reconciler.run_once() == 0
    assert later not in expired and not expired


async def test_each_republish_has_a_message_id_of_its_own(database):
    """JetStream would drop a copy under an id it stored within its duplicate window."""
    writer.start()
    op_id = start_operation(-1)
    reconciler = outbox.Reconciler(FakeBus(), retry_after=30, deadline=600, expire=None)
    for _ in range(2):
        Operation.update(publish_after=utcnow() - datetime.timedelta(seconds=1)).where(
            Operation.id == op_id).execute()
        assert await reconciler.run_once() == 1
    ids = [msg_id for _, msg_id, _ in reconciler.bus.tasks]
    assert len(set(ids)) == 2 and op_id not in ids
    assert all(msg_id.startswith(f"{op_id}.retry-") for msg_id in ids)


async def test_reconciler_expires_operations_past_their_deadline(database):
    writer.start()
    op_id = start_operation(-1)
    Operation.update(created_at=utcnow() - datetime.timedelta(hours=1)).where(Operation.id == op_id).execute()
    bus, expired = FakeBus(), []

    async def expire(row):
        expired.append((row.id, row.task_payload["volume_id"]))

    await outbox.Reconciler(bus, retry_after=30, deadline=600, expire=expire).run_once()
    assert expired == [(op_id, "v")] and not bus.tasks


async def test_a_host_publishes_and_republishes_only_what_its_nats_user_may(database):
    """Another host's task waits for that host's reconciler; past its deadline any host fails it."""
    writer.start()
    mine, theirs, old = (start_operation(-1) for _ in range(3))
    for op_id, host in ((mine, "h1"), (theirs, "h2"), (old, "h2")):
        assert outbox.forward(op_id, outbox.Task(f"ember.tasks.volume.{host}.delete", op_id, {"volume_id": "v"}), -1)
    Operation.update(created_at=utcnow() - datetime.timedelta(hours=1)).where(Operation.id == old).execute()
    bus, expired = FakeBus(), []
    bus.task_prefixes = nats_access.task_prefixes("volume", "h1")

    async def expire(row):
        expired.append(row.id)

    assert await outbox.Reconciler(bus, retry_after=30, deadline=600, expire=expire).run_once() == 2
    assert [task.subject for task in bus.tasks] == ["ember.tasks.volume.h1.delete"] and expired == [old]
    await outbox.publish(bus, outbox.Task("ember.tasks.volume.h2.delete", theirs, {}))
    await outbox.publish(bus, outbox.Task("ember.tasks.scheduler.create", mine, {}))
    assert [task.subject for task in bus.tasks][1:] == ["ember.tasks.scheduler.create"]
    bus.task_prefixes = nats_access.task_prefixes("volume", "h2")
    Operation.update(publish_after=utcnow() - datetime.timedelta(seconds=1)).where(Operation.id == theirs).execute()
    assert await outbox.Reconciler(bus, retry_after=30, deadline=600, expire=expire).run_once() == 1
    assert bus.tasks[-1].subject == "ember.tasks.volume.h2.delete"
