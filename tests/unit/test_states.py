"""Volume status transitions: the table, and the compare-and-set that is the
only way a status changes."""

import uuid

import pytest

from ember import states
from ember.db import Volume, VolumeType


def make_volume(status: str) -> str:
    volume_id = str(uuid.uuid4())
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    Volume.create(
        id=volume_id, project_id="p", user_id="u", size_gb=1, status=status,
        volume_type=default.id, volume_type_name=default.name,
    )
    return volume_id


@pytest.mark.parametrize(
    "current, new",
    [
        ("creating", "available"),
        ("creating", "error"),
        ("available", "deleting"),
        ("error", "deleting"),
        ("error_deleting", "deleting"),
        ("deleting", "error_deleting"),
        ("available", "reserved"),
        ("available", "attaching"),
        ("reserved", "attaching"),
        ("reserved", "available"),
        ("attaching", "in-use"),
        ("attaching", "available"),
        ("in-use", "detaching"),
        ("detaching", "available"),
        ("detaching", "in-use"),
        ("available", "extending"),
        ("extending", "available"),
        ("extending", "error_extending"),
        ("error_extending", "deleting"),
    ],
)
def test_allowed_transitions(current, new):
    states.check(current, new)


@pytest.mark.parametrize(
    "current, new",
    [
        ("creating", "deleting"),
        ("available", "creating"),
        ("available", "error"),
        ("deleting", "available"),
        ("error", "available"),
        ("unknown", "available"),
        ("available", "in-use"),
        ("in-use", "available"),
        ("in-use", "deleting"),
        ("reserved", "deleting"),
        ("creating", "reserved"),
        ("error", "reserved"),
        ("deleting", "in-use"),
        ("in-use", "extending"),
        ("extending", "in-use"),
        ("error_extending", "available"),
    ],
)
def test_forbidden_transitions(current, new):
    with pytest.raises(states.InvalidTransition, match=f"from {current} to {new}"):
        states.check(current, new)


def test_deletable_statuses_follow_the_table():
    assert states.DELETABLE == {"available", "error", "error_deleting", "error_extending", "error_restoring"}


def test_cas_changes_only_from_an_expected_status(database):
    volume_id = make_volume("creating")
    assert states.cas_status(volume_id, ["creating"], "available", host="h@file#p")
    row = Volume.get_by_id(volume_id)
    assert (row.status, row.host) == ("available", "h@file#p")
    # A second racer expecting the old status loses and changes nothing.
    assert not states.cas_status(volume_id, ["creating"], "error", status_detail="late")
    row = Volume.get_by_id(volume_id)
    assert (row.status, row.status_detail) == ("available", "")


def test_cas_accepts_any_of_several_expected_statuses(database):
    volume_id = make_volume("error_deleting")
    assert states.cas_status(volume_id, ["available", "error", "error_deleting"], "deleting")
    assert Volume.get_by_id(volume_id).status == "deleting"


def test_cas_refuses_a_forbidden_transition_before_touching_the_row(database):
    volume_id = make_volume("available")
    with pytest.raises(states.InvalidTransition):
        states.cas_status(volume_id, ["available"], "creating")
    assert Volume.get_by_id(volume_id).status == "available"


def test_cas_on_a_missing_volume_is_false(database):
    assert not states.cas_status(str(uuid.uuid4()), ["creating"], "available")


@pytest.mark.parametrize(
    "attachments, status",
    [
        ([], "available"),
        (["error_attaching"], "available"),
        (["reserved"], "reserved"),
        (["reserved", "attaching"], "attaching"),
        (["attaching", "attached", "reserved"], "in-use"),
        (["detaching"], "detaching"),
        (["detaching", "attached"], "in-use"),
    ],
)
def test_a_volume_status_follows_its_strongest_attachment(attachments, status):
    assert states.attach_status(attachments) == status


def test_predecessors_are_read_off_the_table():
    assert states.predecessors("in-use") == ["attaching", "detaching", "reserved"]
    assert states.predecessors("available") == [
        "attaching", "backing-up", "creating", "detaching", "extending", "reserved", "restoring-backup"
    ]


@pytest.mark.parametrize(
    "current, new, allowed",
    [("creating", "available", True), ("creating", "error", True), ("available", "deleting", True),
     ("error", "deleting", True), ("deleting", "error_deleting", True), ("available", "creating", False),
     ("deleting", "available", False), ("error", "available", False), ("creating", "deleting", False)],
)
def test_snapshot_transitions(current, new, allowed):
    if allowed:
        states.check(current, new, states.SNAPSHOT_TRANSITIONS, "snapshot")
    else:
        with pytest.raises(states.InvalidTransition, match=f"snapshot cannot go from {current} to {new}"):
            states.check(current, new, states.SNAPSHOT_TRANSITIONS, "snapshot")
