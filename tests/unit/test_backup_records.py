"""Backups in the database: every status a backup workflow moves a backup
and its volume through, on success and on failure, with the quota it holds,
and records moved between deployments."""

import uuid

import pytest

from backup import outcomes, records
from ember import quota, states, volumes
from ember.auth import Identity
from ember.db import Backup, Operation, Volume, VolumeType
from ember.errors import AlreadyExists, DataLoss, FailedPrecondition, InvalidArgument, ResourceExhausted
from ember.volume_tasks import _fail

ALICE = Identity("alice", "alice")
LIMITS = {"backups": 3, "backup_gigabytes": 10}


def make_volume(status="available", size_gb=1) -> str:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume_id = str(uuid.uuid4())
    Volume.create(id=volume_id, project_id="alice", user_id="alice", size_gb=size_gb, status=status,
                  host="host-a@file#p", volume_type=default.id, volume_type_name=default.name,
                  metadata={"app": "db"})
    return volume_id


def volume_status(volume_id) -> str:
    return Volume.get_by_id(volume_id).status


def backup_status(backup_id) -> str:
    return Backup.get_by_id(backup_id).status


def start_backup(volume_id, incremental=False, force=False):
    begun = records.create(ALICE, volume_id, {"name": "b"}, incremental, force, "", LIMITS, 30.0)
    return begun.operation, begun.task.payload


def finished_backup(volume_id, **kwargs) -> str:
    op, payload = start_backup(volume_id, **kwargs)
    assert outcomes.backup_done(op.id, payload, 100, 50, 2)
    return payload["backup_id"]


def test_a_backup_holds_the_volume_until_it_is_done(database):
    volume_id = make_volume()
    op, payload = start_backup(volume_id)
    assert volume_status(volume_id) == states.BACKING_UP
    assert backup_status(payload["backup_id"]) == states.CREATING
    assert quota.usage("alice") == {"backups": 1, "backup_gigabytes": 1}
    assert outcomes.backup_done(op.id, payload, 100, 50, 2)
    backup = Backup.get_by_id(payload["backup_id"])
    assert (backup.status, backup.data_bytes, backup.stored_bytes, backup.chunk_count) == ("available", 100, 50, 2)
    assert volume_status(volume_id) == states.AVAILABLE
    assert Operation.get_by_id(op.id).done
    assert not outcomes.backup_done(op.id, payload, 100, 50, 2), "a redelivered task finishes nothing twice"


def test_a_failed_backup_is_error_and_the_volume_goes_back(database):
    volume_id = make_volume()
    op, payload = start_backup(volume_id)
    assert _fail(op.id, payload, DataLoss("the export went away"), False) == ("backups", payload["backup_id"], "error")
    assert backup_status(payload["backup_id"]) == states.ERROR
    assert volume_status(volume_id) == states.AVAILABLE
    assert quota.usage("alice")["backups"] == 1, "an error backup holds its quota until it is deleted"
    assert not outcomes.backup_done(op.id, payload, 1, 1, 1)


def test_in_use_volumes_need_force_and_stay_in_use(database):
    volume_id = make_volume(states.IN_USE)
    with pytest.raises(FailedPrecondition, match="pass force"):
        start_backup(volume_id)
    op, payload = start_backup(volume_id, force=True)
    assert payload["snapshot"] and payload["previous_status"] is None
    assert volume_status(volume_id) == states.IN_USE
    assert outcomes.backup_done(op.id, payload, 1, 1, 1)
    assert volume_status(volume_id) == states.IN_USE


def test_an_incremental_follows_the_newest_available_backup(database):
    volume_id = make_volume()
    with pytest.raises(FailedPrecondition, match="make a full backup first"):
        start_backup(volume_id, incremental=True)
    first = finished_backup(volume_id)
    second = finished_backup(volume_id, incremental=True)
    assert Backup.get_by_id(second).parent_id == first


def test_backup_quotas_are_enforced_and_given_back_on_delete(database):
    volume_id = make_volume(size_gb=4)
    first = finished_backup(volume_id)
    finished_backup(volume_id)
    with pytest.raises(ResourceExhausted, match="backup GiB"):
        start_backup(volume_id)
    begun = records.delete(ALICE, first, "", 30.0)
    assert backup_status(first) == states.DELETING
    assert outcomes.delete_done(begun.operation.id, first)
    assert Backup.get_or_none(Backup.id == first) is None
    assert quota.usage("alice") == {"backups": 1, "backup_gigabytes": 4}


def test_a_failed_delete_is_error_deleting(database):
    backup_id = finished_backup(make_volume())
    begun = records.delete(ALICE, backup_id, "", 30.0)
    _fail(begun.operation.id, begun.task.payload, DataLoss("disk gone"), False)
    assert backup_status(backup_id) == states.ERROR_DELETING
    assert states.ERROR_DELETING in states.BACKUP_DELETABLE


def test_restore_onto_a_volume_and_its_failure(database):
    backup_id = finished_backup(make_volume())
    target = make_volume()
    begun = records.restore(ALICE, backup_id, target, volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    assert (volume_status(target), backup_status(backup_id)) == (states.RESTORING_BACKUP, states.RESTORING)
    with pytest.raises(FailedPrecondition, match="restores are made from available backups"):
        records.restore(ALICE, backup_id, make_volume(), volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    _fail(begun.operation.id, begun.task.payload, DataLoss("chunk abc is corrupt"), False)
    assert (volume_status(target), backup_status(backup_id)) == (states.ERROR_RESTORING, states.AVAILABLE)
    assert "chunk abc" in Volume.get_by_id(target).status_detail

    target = make_volume()
    Volume.update(metadata={"app": "web", "owner": "ops"}).where(Volume.id == target).execute()
    again = records.restore(ALICE, backup_id, target, volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    assert outcomes.restore_done(again.operation.id, again.task.payload, {"app": "db"})
    assert backup_status(backup_id) == states.AVAILABLE
    assert Volume.get_by_id(target).metadata == {"app": "db", "owner": "ops"}, "the backed-up keys come back"


def test_restore_refuses_small_or_busy_volumes(database):
    backup_id = finished_backup(make_volume(size_gb=2))
    with pytest.raises(InvalidArgument, match="needs 2 GiB"):
        records.restore(ALICE, backup_id, make_volume(size_gb=1), volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    with pytest.raises(FailedPrecondition, match="restores go onto available volumes"):
        records.restore(ALICE, backup_id, make_volume(states.IN_USE, 2), volumes.NewVolume(size_gb=0), LIMITS, 30.0)
    assert backup_status(backup_id) == states.AVAILABLE


def test_restore_to_a_new_volume_creates_it_in_restoring_backup(database):
    backup_id = finished_backup(make_volume(size_gb=2))
    begun = records.restore(ALICE, backup_id, "", volumes.NewVolume(size_gb=0, name="copy"), {}, 30.0)
    volume = Volume.get_by_id(begun.operation.target)
    assert (volume.status, volume.size_gb, volume.name) == (states.CREATING, 2, "copy")
    then = begun.task.payload["then"]
    assert then["status"] == states.RESTORING_BACKUP and then["msg_id"] != begun.operation.id
    assert then["payload"]["volume_id"] == volume.id and then["payload"]["new_volume"]
    _fail(begun.operation.id, begun.task.payload, FailedPrecondition("no valid backend", "NO_VALID_BACKEND"), False)
    assert backup_status(backup_id) == states.AVAILABLE, "a restore whose volume was never made frees the backup"


def test_records_move_between_deployments(database):
    backup_id = finished_backup(make_volume())
    record = records.export_record(ALICE, backup_id)
    with pytest.raises(AlreadyExists):
        records.import_record(ALICE, record, lambda _: True, LIMITS)
    Backup.delete_by_id(backup_id)
    with pytest.raises(FailedPrecondition, match="no manifest"):
        records.import_record(ALICE, record, lambda _: False, LIMITS)
    with pytest.raises(InvalidArgument):
        records.import_record(ALICE, "bm90IGpzb24=", lambda _: True, LIMITS)
    imported = records.import_record(ALICE, record, lambda _: True, LIMITS)
    assert (imported.id, imported.status, imported.name) == (backup_id, states.AVAILABLE, "b")
    assert quota.usage("alice")["backups"] == 2, "an imported backup counts like any other"
