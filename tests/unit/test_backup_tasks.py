"""The backup service's task handlers under their one set of failure rules,
on a real repository and volumes exported from files: a host that is away
is waited for, a busy repository too, a bad chunk fails the task at once,
anything else fails it on its last delivery; the keep-alive beats meanwhile."""

import os
import uuid

import pytest

from backup import records
from backup.repository import Repository, locks
from backup.tasks import BUSY_RETRY, BackupTasks
from ember import states, subjects, testing, volumes, writer
from ember.auth import Identity
from ember.bus import Outcome
from ember.db import Backup, Operation, Volume, VolumeType
from ember.errors import Unavailable
from ember.retry import REDELIVERY
from tests.unit.test_backup_pipeline import corrupt_first_chunk

ALICE = Identity("alice", "alice")
LIMITS = {"volumes": 10, "gigabytes": 100, "snapshots": 10, "backups": 10, "backup_gigabytes": 100}
MIB = 1024 * 1024
BACKUP, RESTORE = subjects.backup_task("backup"), subjects.backup_task("restore")


class FakeHosts:
    """The volumes' storage hosts, each volume exported from a file of the
    test's; `failure` is what opening an export raises, `before_open` what it
    awaits first."""

    def __init__(self):
        self.files, self.opened, self.closed = {}, [], []
        self.failure: Exception | None = None
        self.before_open = None

    async def open(self, volume, holder: str, writable: bool, snapshot: bool = False) -> dict:
        if self.before_open is not None:
            await self.before_open()
        if self.failure is not None:
            raise self.failure
        self.opened.append(holder)
        return {"driver_volume_type": "local", "data": {"device_path": str(self.files[volume.id])}}

    async def close(self, volume, holder: str) -> None:
        self.closed.append(holder)


@pytest.fixture
def tasks(database, tmp_path):
    writer.start()
    # A beat every 0.5 s, the keep-alive's shortest.
    settings = testing.make_settings(tmp_path, task_ack_wait=1.5)
    return testing.build(BackupTasks, repo=Repository(tmp_path / "repository"), hosts=FakeHosts(), settings=settings)


def volume_with_data(tasks: BackupTasks, tmp_path) -> str:
    """An available volume whose export is a 1 MiB file, half of it data."""
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume = Volume.create(id=str(uuid.uuid4()), project_id="alice", user_id="alice", size_gb=1,
                           status=states.AVAILABLE, host="host-a@file#p", volume_type=default.id,
                           volume_type_name=default.name)
    path = tmp_path / f"{volume.id}.img"
    with open(path, "wb") as f:
        f.write(os.urandom(MIB // 2))
        f.truncate(MIB)
    tasks.hosts.files[volume.id] = path
    return volume.id


def backing_up(volume_id: str) -> dict:
    return records.create(ALICE, volume_id, {"name": "b"}, False, False, "", LIMITS, 30.0).task.payload


async def backed_up(tasks: BackupTasks, tmp_path) -> str:
    p = backing_up(volume_with_data(tasks, tmp_path))
    assert (await testing.deliver(tasks, BACKUP, p)).outcome.acked
    assert Backup.get_by_id(p["backup_id"]).status == states.AVAILABLE
    return p["backup_id"]


def operation(payload: dict) -> Operation:
    return Operation.get_by_id(payload["operation_id"])


async def test_a_backup_stores_the_volume_and_finishes(tasks, tmp_path):
    volume_id = volume_with_data(tasks, tmp_path)
    p = backing_up(volume_id)
    assert (await testing.deliver(tasks, BACKUP, p)).outcome == Outcome("ok")
    backup = Backup.get_by_id(p["backup_id"])
    assert (backup.status, backup.data_bytes) == (states.AVAILABLE, MIB // 2)
    assert tasks.repo.has_manifest(backup.id) and operation(p).done
    assert Volume.get_by_id(volume_id).status == states.AVAILABLE
    assert tasks.hosts.opened == tasks.hosts.closed == [f"backup-{backup.id}"]
    assert tasks.bus.statuses("backups", backup.id)[-1] == states.AVAILABLE


@pytest.mark.parametrize("attempt", [1, 4])
async def test_a_host_that_is_away_is_waited_for_with_back_off(tasks, tmp_path, attempt):
    p = backing_up(volume_with_data(tasks, tmp_path))
    tasks.hosts.failure = Unavailable("host-a does not answer")
    delivered = await testing.deliver(tasks, BACKUP, p, attempt=attempt, max_deliver=5)
    assert delivered.outcome == Outcome("retry", REDELIVERY.delay(attempt))
    assert Backup.get_by_id(p["backup_id"]).status == states.CREATING and not operation(p).done
    assert not tasks.bus.events


async def test_a_host_still_away_on_the_last_delivery_fails_the_backup(tasks, tmp_path):
    volume_id = volume_with_data(tasks, tmp_path)
    p = backing_up(volume_id)
    tasks.hosts.failure = Unavailable("host-a does not answer")
    assert (await testing.deliver(tasks, BACKUP, p, attempt=5, max_deliver=5)).outcome.acked
    assert operation(p).error_reason == "SERVICE_UNAVAILABLE"
    assert Backup.get_by_id(p["backup_id"]).status == states.ERROR
    assert Volume.get_by_id(volume_id).status == states.AVAILABLE


async def test_a_busy_repository_is_tried_again_soon(tasks, tmp_path):
    p = backing_up(volume_with_data(tasks, tmp_path))
    tasks.hosts.failure = locks.Busy("garbage collection holds the repository")
    delivered = await testing.deliver(tasks, BACKUP, p)
    assert delivered.outcome == Outcome("retry", BUSY_RETRY)


async def test_any_other_error_is_retried_then_fails_the_task_on_its_last_delivery(tasks, tmp_path):
    volume_id = volume_with_data(tasks, tmp_path)
    p = backing_up(volume_id)
    tasks.hosts.failure = RuntimeError("the export went away")
    assert (await testing.deliver(tasks, BACKUP, p, attempt=1, max_deliver=5)).outcome == Outcome(
        "retry", REDELIVERY.delay(1))
    assert not operation(p).done
    assert (await testing.deliver(tasks, BACKUP, p, attempt=5, max_deliver=5)).outcome == Outcome("ok")
    op = operation(p)
    assert op.error_reason == "BACKUP_TASK_FAILED"
    assert op.error_message == "backup failed after 5 tries: the export went away"
    assert Backup.get_by_id(p["backup_id"]).status == states.ERROR
    assert Volume.get_by_id(volume_id).status == states.AVAILABLE, "the volume goes back to where it was"
    assert tasks.bus.statuses("backups", p["backup_id"]) == [states.ERROR]


async def test_a_bad_chunk_fails_a_restore_at_once_and_names_the_chunk(tasks, tmp_path):
    backup_id = await backed_up(tasks, tmp_path)
    bad = corrupt_first_chunk(tasks.repo, backup_id)
    target = volume_with_data(tasks, tmp_path)
    begun = records.restore(ALICE, backup_id, target, volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    delivered = await testing.deliver(tasks, RESTORE, begun.task.payload, attempt=1)
    assert delivered.outcome == Outcome("ok"), "a bad chunk stays bad: not retried"
    op = Operation.get_by_id(begun.operation.id)
    assert op.error_reason == "CHUNK_CORRUPT" and bad in op.error_message
    assert Volume.get_by_id(target).status == states.ERROR_RESTORING
    assert Backup.get_by_id(backup_id).status == states.AVAILABLE
    assert tasks.hosts.closed[-1] == f"restore-{begun.operation.id}", "the export is taken down all the same"


async def test_the_keep_alive_beats_while_a_handler_works(tasks, tmp_path):
    p = backing_up(volume_with_data(tasks, tmp_path))
    beats = testing.Beats()
    # The export opens only once the task said twice that it is working.
    tasks.hosts.before_open = lambda: beats.reach(2, timeout=5)
    delivered = await testing.deliver(tasks, BACKUP, p, beats=beats)
    assert delivered.outcome == Outcome("ok") and delivered.beats.count >= 2
    assert Backup.get_by_id(p["backup_id"]).status == states.AVAILABLE
