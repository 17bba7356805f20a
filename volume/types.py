"""Volume types as the database holds them: lookups and pages for the API,
and the admin's create, update and delete, each one transaction callable
without a network (who may use a type: ember.volume_types)."""

from __future__ import annotations

import re
import uuid

import peewee

from ember import extra_specs, lookup, pagination, quota
from ember.auth import Identity
from ember.db import QuotaLimit, Volume, VolumeType, utcnow, write_transaction
from ember.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ember.volume_types import visible

NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
MAX_SPECS = 64
MAX_SPEC_LENGTH = 255
UPDATABLE = ("name", "description", "extra_specs", "is_public", "access_project_ids", "is_default")


def check_name(field: str, name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidArgument(field, f"{name!r} is not a type name: 1-255 letters, digits, '.', '_' or '-'")
    return name


def check_specs(field: str, specs: dict[str, str]) -> dict[str, str]:
    if len(specs) > MAX_SPECS:
        raise InvalidArgument(field, f"at most {MAX_SPECS} extra specs")
    for key, value in specs.items():
        if not key or len(key) > MAX_SPEC_LENGTH or len(value) > MAX_SPEC_LENGTH:
            raise InvalidArgument(field, f"keys must be 1-{MAX_SPEC_LENGTH} characters and values at most {MAX_SPEC_LENGTH}")
        try:
            extra_specs.check(key, value)
        except extra_specs.BadSpec as exc:
            raise InvalidArgument(field, f"{key}: {exc}")
    return specs


def _lookup(id_or_name: str) -> VolumeType | None:
    try:
        return VolumeType.get_or_none(VolumeType.id == str(uuid.UUID(id_or_name)))
    except ValueError:
        return VolumeType.get_or_none(VolumeType.name == id_or_name)


def get(identity: Identity, id_or_name: str) -> VolumeType:
    found = _lookup(id_or_name)
    if found is None or not visible(found, identity):
        raise NotFound("volume_type", id_or_name)
    return found


def list_types(identity: Identity, size: int, token: str, secret: bytes) -> tuple[list[VolumeType], str]:
    """Types are few: visibility is decided here, then the page is cut."""
    rows = [t for t in VolumeType.select().order_by(VolumeType.created_at, VolumeType.id) if visible(t, identity)]
    after = pagination.decode(secret, "volume_types", token)
    if after:
        rows = [t for t in rows if (str(t.created_at), t.id) > after]
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]
    return rows[:size], pagination.encode(secret, "volume_types", str(last.created_at), last.id)


def create(fields: dict) -> VolumeType:
    with write_transaction():
        if VolumeType.get_or_none(VolumeType.name == fields["name"]):
            raise AlreadyExists(
                f"a volume type named {fields['name']!r} exists", "VOLUME_TYPE_EXISTS", {"name": fields["name"]}
            )
        return VolumeType.create(id=str(uuid.uuid4()), is_default=False, **fields)


def update(type_id: str, fields: dict) -> VolumeType:
    with write_transaction():
        current = lookup.get(VolumeType, type_id)
        if "is_default" in fields:
            if not fields["is_default"]:
                if current.is_default:
                    raise InvalidArgument("volume_type.is_default", "make another type the default instead")
                del fields["is_default"]
            else:
                VolumeType.update(is_default=False).where(VolumeType.is_default == True).execute()  # noqa: E712
        name = fields.get("name", current.name)
        if name != current.name:
            if VolumeType.get_or_none(VolumeType.name == name):
                raise AlreadyExists(f"a volume type named {name!r} exists", "VOLUME_TYPE_EXISTS", {"name": name})
            Volume.update(volume_type_name=name).where(Volume.volume_type == type_id).execute()
        VolumeType.update(updated_at=utcnow(), **fields).where(VolumeType.id == type_id).execute()
        return VolumeType.get_by_id(type_id)


def delete(type_id: str) -> None:
    with write_transaction():
        current = lookup.get(VolumeType, type_id)
        if current.is_default:
            raise FailedPrecondition(
                f"volume type {current.name} is the default; make another type the default first",
                "VOLUME_TYPE_IS_DEFAULT", {"volume_type": current.name},
            )
        in_use = Volume.select().where(Volume.volume_type == type_id).count()
        if in_use:
            raise _in_use(current, in_use)
        QuotaLimit.delete().where(
            QuotaLimit.resource.in_([quota.per_type(kind, type_id) for kind in ("volumes", "gigabytes")])
        ).execute()
        try:
            with write_transaction():
                current.delete_instance()
        except peewee.IntegrityError:
            raise _in_use(current, 1)


def _in_use(volume_type: VolumeType, count: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"volume type {volume_type.name} is in use by {count} volume(s); delete or retype them first",
        "VOLUME_TYPE_IN_USE", {"volume_type": volume_type.name, "volumes": count},
    )
