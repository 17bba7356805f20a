"""A storage host's task handlers, delivered as the bus would and without
the mesh: a create that works, one the driver fails (back to the scheduler
without this pool), a delete retried with back-off then failed on its last
delivery, redeliveries of finished work, and verbs nobody handles."""

import logging
from unittest import mock

import pytest

from ember import outbox, quota, states, subjects, testing, volumes, writer
from ember.auth import Identity
from ember.bus import Outcome
from ember.db import Operation, Volume
from ember.outbox import Task
from ember.retry import REDELIVERY
from volume import deletion, extend
from volume.backends import Backends
from volume.drivers.file import GIB
from volume.host_tasks import HostTasks

ALICE = Identity("alice", "alice")
HOST, POOL = "host-a", "host-a@file#p"
LIMITS = {"volumes": 10, "gigabytes": 100, "snapshots": 10, "backups": 10, "backup_gigabytes": 100}


def subject(verb: str) -> str:
    return subjects.volume_task(HOST, verb)


def failing(error: Exception) -> mock.Mock:
    """A driver method that raises `error`, and says whether it was called."""
    return mock.Mock(side_effect=error)


@pytest.fixture
def tasks(database, tmp_path):
    writer.start()
    settings = testing.make_settings(tmp_path, pools="p")
    return testing.build(HostTasks, backends=Backends(settings), zone="z1", retry_after=30.0)


def driver_of(tasks: HostTasks):
    return tasks.backends.locate(POOL)[0]


def creating(size_gb: int = 1) -> dict:
    """A new volume, and the create task its scheduler forwarded to this host."""
    begun = volumes.create_volume(ALICE, volumes.NewVolume(size_gb=size_gb), LIMITS, 30.0)
    payload = dict(begun.task.payload, pool=POOL)
    op_id = payload["operation_id"]
    assert outbox.forward(op_id, Task(subject("create"), f"{op_id}.place0", payload), 30.0)
    return payload


async def available(tasks: HostTasks) -> str:
    payload = creating()
    assert (await testing.deliver(tasks, subject("create"), payload)).outcome.acked
    tasks.bus.events.clear()
    return payload["volume_id"]


async def test_a_create_makes_the_volume_available_and_finishes_its_operation(tasks):
    p = creating()
    delivered = await testing.deliver(tasks, subject("create"), p)
    assert delivered.outcome == Outcome("ok")
    volume = Volume.get_by_id(p["volume_id"])
    assert (volume.status, volume.host, volume.availability_zone) == (states.AVAILABLE, POOL, "z1")
    op = Operation.get_by_id(p["operation_id"])
    assert op.done and not op.error_reason and op.publish_after is None
    assert tasks.bus.events_of("volumes", volume.id) == [
        {"resource": "volumes", "id": volume.id, "status": states.AVAILABLE, "finished_operation": op.id}]
    assert driver_of(tasks).path("p", volume.id).stat().st_size == GIB
    tasks.reporter.create_succeeded.assert_called_once_with("file")
    assert not tasks.bus.tasks


async def test_a_create_the_driver_fails_goes_back_to_the_scheduler_without_this_pool(tasks, monkeypatch):
    p = creating()
    monkeypatch.setattr(driver_of(tasks), "create", failing(OSError("disk full")))
    delivered = await testing.deliver(tasks, subject("create"), p)
    assert delivered.outcome.acked, "the failure went back to the scheduler; the host is done with it"
    (again,) = tasks.bus.tasks
    assert (again.subject, again.msg_id) == (subjects.scheduler_task("create"), f"{p['operation_id']}.retry1")
    assert again.payload["tried"] == [POOL] and again.payload["errors"] == [f"{POOL}: disk full"]
    op = Operation.get_by_id(p["operation_id"])
    assert not op.done and (op.task_subject, op.task_msg_id) == (again.subject, again.msg_id), "in the outbox too"
    assert Volume.get_by_id(p["volume_id"]).status == states.CREATING
    tasks.reporter.create_failed.assert_awaited_once_with("file", "disk full")
    assert not tasks.bus.events


@pytest.mark.parametrize("attempt", [1, 4])
async def test_a_delete_the_backend_fails_is_retried_with_back_off_before_its_last_delivery(tasks, monkeypatch,
                                                                                         attempt):
    volume_id = await available(tasks)
    begun = deletion.delete_volume(ALICE, volume_id, "", False, 30.0)
    monkeypatch.setattr(driver_of(tasks), "delete", failing(OSError("device busy")))
    delivered = await testing.deliver(tasks, subject("delete"), begun.task.payload, attempt=attempt, max_deliver=5)
    assert delivered.outcome == Outcome("retry", REDELIVERY.delay(attempt))
    assert Volume.get_by_id(volume_id).status == states.DELETING
    assert not Operation.get_by_id(begun.operation.id).done
    assert not tasks.bus.events


async def test_a_delete_the_backend_fails_on_its_last_delivery_fails_the_operation(tasks, monkeypatch):
    volume_id = await available(tasks)
    begun = deletion.delete_volume(ALICE, volume_id, "", False, 30.0)
    monkeypatch.setattr(driver_of(tasks), "delete", failing(OSError("device busy")))
    delivered = await testing.deliver(tasks, subject("delete"), begun.task.payload, attempt=5, max_deliver=5)
    assert delivered.outcome == Outcome("ok")
    op = Operation.get_by_id(begun.operation.id)
    assert op.done and op.error_reason == "BACKEND_DELETE_FAILED" and "device busy" in op.error_message
    assert Volume.get_by_id(volume_id).status == states.ERROR_DELETING
    assert tasks.bus.statuses("volumes", volume_id) == [states.ERROR_DELETING]


async def test_a_delete_removes_the_volume_and_its_file(tasks):
    volume_id = await available(tasks)
    begun = deletion.delete_volume(ALICE, volume_id, "", False, 30.0)
    assert (await testing.deliver(tasks, subject("delete"), begun.task.payload)).outcome.acked
    assert Volume.get_or_none(Volume.id == volume_id) is None
    assert not driver_of(tasks).path("p", volume_id).exists()
    assert tasks.bus.events_of("volumes", volume_id) == [
        {"resource": "volumes", "id": volume_id, "status": "deleted", "finished_operation": begun.operation.id}]


async def test_a_redelivered_task_whose_work_is_done_changes_nothing(tasks, monkeypatch):
    p = creating()
    await testing.deliver(tasks, subject("create"), p, attempt=1)
    published = (list(tasks.bus.tasks), list(tasks.bus.events))
    driver = driver_of(tasks)
    monkeypatch.setattr(driver, "create", failing(AssertionError("the work was done already")))
    delivered = await testing.deliver(tasks, subject("create"), p, attempt=2)
    assert delivered.outcome.acked and not driver.create.called
    assert (tasks.bus.tasks, tasks.bus.events) == published, "nothing sent again, nothing rescheduled"
    assert Volume.get_by_id(p["volume_id"]).status == states.AVAILABLE

    begun = deletion.delete_volume(ALICE, p["volume_id"], "", False, 30.0)
    await testing.deliver(tasks, subject("delete"), begun.task.payload, attempt=1)
    published = (list(tasks.bus.tasks), list(tasks.bus.events))
    monkeypatch.setattr(driver, "delete", failing(AssertionError("the volume went already")))
    assert (await testing.deliver(tasks, subject("delete"), begun.task.payload, attempt=2)).outcome.acked
    assert not driver.delete.called
    assert (tasks.bus.tasks, tasks.bus.events) == published


async def test_an_extend_the_backend_fails_fails_at_once_and_gives_back_its_quota(tasks, monkeypatch):
    volume_id = await available(tasks)
    begun = extend.extend_volume(ALICE, volume_id, 3, "", LIMITS, 30.0)
    monkeypatch.setattr(driver_of(tasks), "extend", failing(OSError("no space")))
    delivered = await testing.deliver(tasks, subject("extend"), begun.task.payload, attempt=1)
    assert delivered.outcome.acked, "a driver that cannot extend is not retried"
    op = Operation.get_by_id(begun.operation.id)
    assert op.error_reason == "BACKEND_EXTEND_FAILED"
    assert Volume.get_by_id(volume_id).status == states.ERROR_EXTENDING
    assert Volume.get_by_id(volume_id).size_gb == 1
    assert quota.usage("alice")["gigabytes"] == 1, "the 2 GiB the extend held are given back"


async def test_an_unknown_verb_is_acked_and_logged(tasks, caplog):
    caplog.set_level(logging.ERROR, logger="ember.entrypoints")
    delivered = await testing.deliver(tasks, subject("defragment"), {"operation_id": "o", "volume_id": "v"})
    assert delivered.outcome == Outcome("ok")
    assert f"unknown volume task {subject('defragment')}; dropping it" in caplog.text
    assert not tasks.bus.tasks and not tasks.bus.events
