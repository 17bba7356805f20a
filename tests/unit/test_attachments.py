"""Attachments in the database: reserving (and replaying a request_id),
the export steps, giving back a failed export, completing and removing,
and the volume status that follows each step."""

import uuid

import grpc
import pytest

from ember.auth import Identity
from ember.db import Attachment, AttachmentRequest, Volume, VolumeType
from ember.errors import EmberError, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from volume import attachment_requests, attachments

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


def reserve(volume_id, instance="vm", mode="rw", request_id=""):
    return attachments.reserve(ALICE, volume_id, instance, mode, request_id).attachment


def attach(volume_id) -> str:
    held = reserve(volume_id)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.store_export(held.id, {"driver_volume_type": "nbd", "data": {}})
    attachments.complete(ALICE, held.id)
    return held.id


def test_the_volume_follows_each_step(database):
    volume_id = make_volume()
    held = reserve(volume_id)
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
    held = reserve(volume_id)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    with pytest.raises(FailedPrecondition, match="only a reserved attachment"):
        attachments.begin_export(ALICE, held.id, dict(CONNECTOR, host="compute-2"))
    attachments.store_export(held.id, {"driver_volume_type": "nbd", "data": {}})
    attachments.complete(ALICE, held.id)
    again, _ = attachments.begin_export(ALICE, held.id, CONNECTOR)
    assert again.status == "attached", "an attached attachment is exported again, as it is"


def failed_export(attachment_id):
    return Unavailable(f"could not export for {attachment_id}", "EXPORT_FAILED")


@pytest.mark.parametrize("multiattach", [False, True])
def test_a_failed_export_gives_back_what_it_took(database, multiattach):
    volume_id = make_volume(multiattach=multiattach)
    other = attach(volume_id) if multiattach else None
    before = status(volume_id)
    held = reserve(volume_id, request_id=str(uuid.uuid4()))
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    released = attachments.release(held.id, failed_export(held.id))
    assert released.id == held.id
    assert [a.id for a in Attachment.select()] == ([other] if other else [])
    assert status(volume_id) == before
    assert attachments.store_export(held.id, {"driver_volume_type": "nbd"}) is None
    assert reserve(volume_id, "vm-2").status == "reserved", "nothing holds the volume"


def test_a_completed_attachment_is_never_released(database):
    volume_id = make_volume()
    done = attach(volume_id)
    assert attachments.release(done, failed_export(done)) is None
    assert attachments.get(ALICE, done).status == "attached" and status(volume_id) == "in-use"


def test_a_release_racing_a_complete_leaves_one_winner(database):
    volume_id = make_volume()
    held = reserve(volume_id)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.store_export(held.id, {"driver_volume_type": "nbd", "data": {}})
    attachments.release(held.id, failed_export(held.id))
    with pytest.raises(NotFound):
        attachments.complete(ALICE, held.id)
    assert status(volume_id) == "available"


def test_single_attach_volumes_refuse_a_second_attachment_naming_the_holder(database):
    volume_id = make_volume()
    holder = attach(volume_id)
    with pytest.raises(FailedPrecondition, match="is in-use") as refused:
        reserve(volume_id, "vm-2")
    assert refused.value.metadata["status"] == "in-use"
    assert refused.value.reason == "VOLUME_ALREADY_ATTACHED"
    assert f"attachment {holder} (instance vm, attached)" in refused.value.message
    assert refused.value.metadata["attachments"] == holder


def test_a_refusal_names_at_most_a_few_holders(database):
    volume_id = make_volume(status="in-use")
    for n in range(attachments.MAX_NAMED + 2):
        Attachment.create(id=str(uuid.uuid4()), volume=volume_id, project_id="alice", instance_id=f"vm-{n}",
                          status="attached", host="host-a")
    with pytest.raises(FailedPrecondition) as refused:
        reserve(volume_id, "vm-x")
    assert refused.value.message.count("(instance vm-") == attachments.MAX_NAMED
    assert "and 2 more" in refused.value.message


def test_failed_attachments_never_count_against_multi_attach(database):
    volume_id = make_volume()
    broken = reserve(volume_id)
    Attachment.update(status="error_attaching").where(Attachment.id == broken.id).execute()
    attachments.settle_volume(volume_id)
    assert status(volume_id) == "available"
    assert reserve(volume_id, "vm-2").status == "reserved"


def test_a_repeated_request_id_returns_the_first_attachment(database):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    first = attachments.reserve(ALICE, volume_id, "vm", "rw", request_id)
    again = attachments.reserve(ALICE, volume_id, "vm", "rw", request_id)
    assert not first.replayed and again.replayed and again.attachment.id == first.attachment.id
    assert Attachment.select().count() == 1
    other_project = attachments.reserve(Identity("bob", "bob"), make_volume_of("bob"), "vm", "rw", request_id)
    assert not other_project.replayed, "request ids are the project's own"


def make_volume_of(project):
    volume_id = make_volume()
    Volume.update(project_id=project).where(Volume.id == volume_id).execute()
    return volume_id


@pytest.mark.parametrize("change", [{"volume_id": "other"}, {"instance": "vm-2"}, {"mode": "ro"}])
def test_a_request_id_reused_for_another_request_is_invalid(database, change):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    reserve(volume_id, request_id=request_id)
    asked = {"volume_id": volume_id, "instance": "vm", "mode": "rw", **change}
    if asked["volume_id"] == "other":
        asked["volume_id"] = make_volume()
    with pytest.raises(InvalidArgument, match="a retry must repeat its request") as refused:
        attachments.reserve(ALICE, asked["volume_id"], asked["instance"], asked["mode"], request_id)
    assert refused.value.metadata["field"] == "request_id"
    assert Attachment.select().count() == 1


def test_a_retry_after_a_failure_gets_the_failure_again(database):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    held = reserve(volume_id, request_id=request_id)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    attachments.release(held.id, failed_export(held.id))
    with pytest.raises(EmberError) as again:
        reserve(volume_id, request_id=request_id)
    assert (again.value.code, again.value.reason) == (grpc.StatusCode.UNAVAILABLE, "EXPORT_FAILED")
    assert again.value.message == f"could not export for {held.id}"
    assert Attachment.select().count() == 0 and status(volume_id) == "available"


def test_a_retry_after_the_attachment_was_deleted_makes_no_new_one(database):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    held = reserve(volume_id, request_id=request_id)
    attachments.begin_delete(ALICE, held.id)
    attachments.finish_delete(held.id)
    with pytest.raises(FailedPrecondition, match="has been deleted since") as again:
        reserve(volume_id, request_id=request_id)
    assert again.value.reason == "ATTACHMENT_DELETED"
    assert Attachment.select().count() == 0 and status(volume_id) == "available"


def test_a_refused_request_claims_no_request_id(database):
    volume_id, request_id = make_volume(status="error"), str(uuid.uuid4())
    with pytest.raises(FailedPrecondition):
        reserve(volume_id, request_id=request_id)
    assert AttachmentRequest.select().count() == 0


def test_request_ids_are_forgotten_after_the_retention(database):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    reserve(volume_id, request_id=request_id)
    assert attachment_requests.purge() == 0
    made = AttachmentRequest.get().created_at
    AttachmentRequest.update(created_at=made - attachment_requests.RETENTION).execute()
    assert attachment_requests.purge() == 1


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
        reserve(make_volume(volume_status))


def test_other_projects_see_nothing(database):
    held = reserve(make_volume())
    bob = Identity("bob", "bob")
    with pytest.raises(NotFound):
        attachments.get(bob, held.id)
    assert attachments.get(bob, held.id, any_project=True).id == held.id
