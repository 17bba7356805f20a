"""Volume types in the database: names, visibility, the one default type,
renames that follow into volumes, and deletes that keep volumes safe."""

import uuid

import peewee
import pytest

from ember import volume_types
from ember.auth import Identity
from ember.db import Volume, VolumeType
from ember.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from volume import types

ADMIN = Identity("admin-project", "root", ("admin",))
ALICE = Identity("alice-project", "alice")
BOB = Identity("bob-project", "bob")


def make(name, **fields):
    return types.create({"name": name, "description": "", "extra_specs": {}, "is_public": True,
                         "access_project_ids": [], **fields})


def test_names_are_unique_and_checked(database):
    make("ssd")
    with pytest.raises(AlreadyExists):
        make("ssd")
    with pytest.raises(InvalidArgument, match="not a type name"):
        types.check_name("volume_type.name", "no spaces")


def test_bad_extra_specs_are_invalid_arguments(database):
    with pytest.raises(InvalidArgument, match="iops: .*needs a number"):
        types.check_specs("volume_type.extra_specs", {"iops": ">= many"})
    with pytest.raises(InvalidArgument, match="at most 64"):
        types.check_specs("volume_type.extra_specs", {f"k{i}": "v" for i in range(65)})


def test_private_types_are_seen_only_by_their_projects_and_admins(database):
    private = make("secret", is_public=False, access_project_ids=["alice-project"])
    assert types.get(ALICE, "secret").id == private.id
    assert types.get(ADMIN, private.id).name == "secret"
    with pytest.raises(NotFound):
        types.get(BOB, "secret")
    with pytest.raises(InvalidArgument, match="no volume type named 'secret'"):
        volume_types.for_create(BOB, "secret")
    names = lambda who: [t.name for t in types.list_types(who, 50, "", b"k" * 32)[0]]  # noqa: E731
    assert names(BOB) == ["default"]
    assert names(ALICE) == ["default", "secret"]


def test_an_unnamed_create_gets_the_default_type_which_can_move(database):
    assert volume_types.for_create(ALICE, "").name == "default"
    ssd = make("ssd")
    types.update(ssd.id, {"is_default": True})
    assert volume_types.for_create(ALICE, "").name == "ssd"
    assert VolumeType.select().where(VolumeType.is_default == True).count() == 1  # noqa: E712
    with pytest.raises(InvalidArgument, match="make another type the default"):
        types.update(ssd.id, {"is_default": False})


def test_list_pages(database):
    for i in range(5):
        make(f"t{i}")
    seen, token = [], ""
    while True:
        page, token = types.list_types(ADMIN, 2, token, b"k" * 32)
        seen += [t.name for t in page]
        if not token:
            break
    assert seen == ["default", "t0", "t1", "t2", "t3", "t4"]


def add_volume(volume_type):
    Volume.create(id=str(uuid.uuid4()), project_id="p", user_id="u", size_gb=1, status="available",
                  volume_type=volume_type.id, volume_type_name=volume_type.name)


def test_rename_follows_into_volumes(database):
    ssd = make("ssd")
    add_volume(ssd)
    types.update(ssd.id, {"name": "fast"})
    assert [v.volume_type_name for v in Volume.select()] == ["fast"]
    make("ssd")
    with pytest.raises(AlreadyExists):
        types.update(ssd.id, {"name": "ssd"})


def test_types_in_use_and_the_default_cannot_be_deleted(database):
    ssd = make("ssd")
    add_volume(ssd)
    with pytest.raises(FailedPrecondition, match="in use by 1 volume"):
        types.delete(ssd.id)
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    with pytest.raises(FailedPrecondition, match="is the default"):
        types.delete(default.id)
    Volume.delete().execute()
    types.delete(ssd.id)
    with pytest.raises(NotFound):
        types.delete(ssd.id)


def test_the_database_refuses_a_type_delete_under_a_volume(database):
    """The foreign key holds even where the check before it raced."""
    ssd = make("ssd")
    add_volume(ssd)
    with pytest.raises(peewee.IntegrityError, match="FOREIGN KEY constraint failed"):
        VolumeType.delete().where(VolumeType.id == ssd.id).execute()
    assert VolumeType.get_by_id(ssd.id).name == "ssd"
