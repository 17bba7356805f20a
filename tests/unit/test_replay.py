"""A request_id starts an operation once: a retry gets the first call's
operation back and does nothing again; another verb or project starts anew."""

import uuid

from backup import records
from ember.auth import Identity
from ember.db import Backup, Volume, VolumeType

ALICE = Identity("alice", "alice")
BOB = Identity("bob", "bob")
LIMITS = {"backups": 10, "backup_gigabytes": 10}


def make_volume(project_id: str) -> str:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume_id = str(uuid.uuid4())
    Volume.create(id=volume_id, project_id=project_id, user_id=project_id, size_gb=1, status="available",
                  host="host-a@file#p", volume_type=default.id, volume_type_name=default.name)
    return volume_id


def backup(identity: Identity, volume_id: str, request_id: str):
    return records.create(identity, volume_id, {"name": "b"}, False, False, request_id, LIMITS, 30.0)


def test_a_repeated_request_id_gets_the_first_operation_back(database):
    volume_id, request_id = make_volume("alice"), str(uuid.uuid4())
    first = backup(ALICE, volume_id, request_id)
    Volume.update(status="available").where(Volume.id == volume_id).execute()
    again = backup(ALICE, volume_id, request_id)
    assert again.operation.id == first.operation.id and first.task is not None and again.task is None
    assert Backup.select().count() == 1


def test_a_request_id_is_one_projects_and_one_verbs(database):
    request_id = str(uuid.uuid4())
    first = backup(ALICE, make_volume("alice"), request_id)
    theirs = backup(BOB, make_volume("bob"), request_id)
    Backup.update(status="available").where(Backup.id == first.operation.target).execute()
    deleting = records.delete(ALICE, first.operation.target, request_id, 30.0)
    assert len({first.operation.id, theirs.operation.id, deleting.operation.id}) == 3
    assert theirs.task is not None and deleting.task is not None


def test_no_request_id_is_never_a_replay(database):
    volume_id = make_volume("alice")
    first = backup(ALICE, volume_id, "")
    Volume.update(status="available").where(Volume.id == volume_id).execute()
    assert backup(ALICE, volume_id, "").operation.id != first.operation.id
