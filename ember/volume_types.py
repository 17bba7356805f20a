"""Which volume types a project may see, and the type a new volume gets:
what creating a volume needs of types, whichever service creates it."""

from __future__ import annotations

from ember.auth import Identity
from ember.db import VolumeType
from ember.errors import InvalidArgument
from ember.prepared import Param, Prepared

_DEFAULT = Prepared(lambda: VolumeType.select().where(VolumeType.is_default == True))  # noqa: E712
_BY_NAME = Prepared(lambda: VolumeType.select().where(VolumeType.name == Param("name")))


def visible(volume_type: VolumeType, identity: Identity) -> bool:
    return identity.is_admin or volume_type.is_public or identity.project_id in volume_type.access_project_ids


def for_create(identity: Identity, name: str) -> VolumeType:
    """The type a new volume gets: the named one if the project may use it,
    else the default type."""
    if not name:
        return _DEFAULT.first()
    found = _BY_NAME.first(name=name)
    if found is None or not visible(found, identity):
        raise InvalidArgument("volume_type", f"no volume type named {name!r} is available to this project")
    return found
