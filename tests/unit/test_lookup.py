"""Reading a row by id: another project's row is not found, and NOT_FOUND
says which kind of resource, the same way for each."""

import uuid

import pytest

from ember import lookup
from ember.db import Volume, VolumeType
from ember.errors import NotFound


def make_volume(project_id: str) -> Volume:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    return Volume.create(id=str(uuid.uuid4()), project_id=project_id, user_id="u", size_gb=1, status="available",
                         volume_type=default.id, volume_type_name=default.name, metadata={"app": "db"})


def test_a_row_is_found_in_its_own_project_or_any(database):
    volume = make_volume("alice")
    assert lookup.get(Volume, volume.id, "alice").metadata == {"app": "db"}
    assert lookup.get(Volume, volume.id).project_id == "alice"
    assert lookup.find(Volume, volume.id, "bob") is None


@pytest.mark.parametrize("model, kind", [(Volume, "volume"), (VolumeType, "volume_type")])
def test_not_found_names_the_kind_and_the_id(database, model, kind):
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound) as raised:
        lookup.get(model, missing)
    assert (raised.value.message, raised.value.reason) == (f"{kind} {missing} not found", f"{kind.upper()}_NOT_FOUND")
    assert raised.value.metadata == {"resource_type": kind, "resource_id": missing}
