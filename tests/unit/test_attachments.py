"""Attachments in the database: reserving, the export steps, completing and
removing, and the volume status that follows each step."""

import uuid

import pytest

from ember.auth import Identity
from ember.db import Volume, VolumeType
from ember.errors import FailedPrecondition, NotFound
from volume import attachments

ALICE = Identity("alice", "alice")
CONNECTOR = {"host": "compute-1", "ip": "", "initiator": "", "transports": ["nbd"]}


def make_volume(status="available", multiattach=False) -> str:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume_id = str(uuid.uuid4())
    Volume.create(id=volume_id, project_id="alice", user_id="alice", size_gb=1, status=status, host="host-a@file#p",
                  volume_type=default.id, volume_type_name=default.name, multiattach=multiattach)
    return volume_id


def status(volume_id) -> str:
    return Volume.get_by_id(volume_id).status


def attach(volume_id) -> str:
    held = attachments.reserve(ALICE, volume_id, "vm", "rw")
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.store_export(held.id, {"driver_volume_type": "nbd", "data": {}})
    attachments.complete(ALICE, held.id)
    return held.id


def test_the_volume_follows_each_step(database):
    volume_id = make_volume()
    held = attachments.reserve(ALICE, volume_id, "vm", "rw")
    assert (held.host, status(volume_id)) == ("host-a", "reserved")
    exporting, _ = attachments.begin_export(ALICE, held.id, CONNECTOR)
    assert (exporting.status, status(volume_id)) == ("attaching", "attaching")
    with pytest.raises(FailedPrecondition, match="without an export"):
        attachments.complete(ALICE, held.id)
    attachments.store_export(held.id, {"driver_volume_type": "nbd", "data": {}})
    assert attachments.complete(ALICE, held.id).status == "attached" and status(volume_id) == "in-use"
    assert attachments.begin_delete(ALICE, held.id).status == "detaching" and status(volume_id) == "detaching"
    attachments.finish_delete(held.id)
    assert status(volume_id) == "available"


def test_an_export_retried_with_the_same_connector_is_accepted(database):
    volume_id = make_volume()
    held = attachments.reserve(ALICE, volume_id, "vm", "rw")
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    with pytest.raises(FailedPrecondition, match="only a reserved attachment"):
        attachments.begin_export(ALICE, held.id, dict(CONNECTOR, host="compute-2"))


def test_a_failed_export_leaves_the_volume_as_its_other_attachments_say(database):
    volume_id = make_volume()
    held = attachments.reserve(ALICE, volume_id, "vm", "rw")
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.fail_export(held.id, "disk on fire")
    failed = attachments.get(ALICE, held.id)
    assert (failed.status, failed.status_detail, status(volume_id)) == ("error_attaching", "disk on fire", "available")
    assert attachments.store_export(held.id, {"driver_volume_type": "nbd"}) is None


def test_single_attach_volumes_refuse_a_second_attachment(database):
    volume_id = make_volume()
    attach(volume_id)
    with pytest.raises(FailedPrecondition, match="is in-use") as refused:
        attachments.reserve(ALICE, volume_id, "vm-2", "rw")
    assert refused.value.metadata["status"] == "in-use"


def test_multi_attach_volumes_take_several(database):
    volume_id = make_volume(multiattach=True)
    first, second = attach(volume_id), attach(volume_id)
    attachments.begin_delete(ALICE, first)
    assert status(volume_id) == "in-use"
    attachments.finish_delete(first)
    attachments.begin_delete(ALICE, second)
    attachments.finish_delete(second)
    assert status(volume_id) == "available"


@pytest.mark.parametrize("volume_status", ["creating", "error", "deleting"])
def test_only_available_volumes_are_reserved(database, volume_status):
    with pytest.raises(FailedPrecondition, match=f"is {volume_status}"):
        attachments.reserve(ALICE, make_volume(volume_status), "vm", "rw")


def test_other_projects_see_nothing(database):
    held = attachments.reserve(ALICE, make_volume(), "vm", "rw")
    bob = Identity("bob", "bob")
    with pytest.raises(NotFound):
        attachments.get(bob, held.id)
    assert attachments.get(bob, held.id, any_project=True).id == held.id
