"""VolumeTypeService gRPC entrypoints: validate, run volume.types, translate.
The gateway lets only admins create, update and delete."""

from __future__ import annotations

import asyncio

from ember import messages, validation, writer
from ember.db import VolumeType
from ember.errors import InvalidArgument
from ember.grpc_server import current_identity
from ember.pagination import page_size
from ember.v1 import volume_type_pb2, volume_type_pb2_grpc
from volume import types


def to_proto(row: VolumeType) -> volume_type_pb2.VolumeType:
    return volume_type_pb2.VolumeType(
        id=row.id,
        name=row.name,
        description=row.description,
        extra_specs=row.extra_specs or {},
        is_public=row.is_public,
        access_project_ids=row.access_project_ids or [],
        is_default=row.is_default,
        created_at=messages.timestamp(row.created_at),
        updated_at=messages.timestamp(row.updated_at),
    )


def _fields(message: volume_type_pb2.VolumeType, names) -> dict:
    """The checked values of the named fields of a request's VolumeType."""
    checks = {
        "name": lambda: types.check_name("volume_type.name", message.name),
        "description": lambda: validation.text("volume_type.description", message.description, validation.MAX_DESCRIPTION),
        "extra_specs": lambda: types.check_specs("volume_type.extra_specs", dict(message.extra_specs)),
        "is_public": lambda: message.is_public,
        "access_project_ids": lambda: _projects(list(message.access_project_ids)),
        "is_default": lambda: message.is_default,
    }
    return {name: checks[name]() for name in names}


def _projects(ids: list[str]) -> list[str]:
    for project in ids:
        if not project or len(project) > validation.MAX_NAME:
            raise InvalidArgument("volume_type.access_project_ids", f"project ids are 1-{validation.MAX_NAME} characters")
    return sorted(set(ids))


class VolumeTypeApi(volume_type_pb2_grpc.VolumeTypeServiceServicer):
    def __init__(self, secret: bytes):
        self.secret = secret

    async def CreateVolumeType(self, request, context):
        fields = _fields(request.volume_type, ("name", "description", "extra_specs", "is_public", "access_project_ids"))
        return to_proto(await writer.run(types.create, fields))

    async def GetVolumeType(self, request, context):
        if not request.id:
            raise InvalidArgument("id", "is required: a volume type's id or name")
        return to_proto(await asyncio.to_thread(types.get, current_identity(), request.id))

    async def ListVolumeTypes(self, request, context):
        size = page_size(request.page_size)
        rows, token = await asyncio.to_thread(types.list_types, current_identity(), size, request.page_token, self.secret)
        return volume_type_pb2.ListVolumeTypesResponse(volume_types=[to_proto(r) for r in rows], next_page_token=token)

    async def UpdateVolumeType(self, request, context):
        type_id = validation.uuid_field("volume_type.id", request.volume_type.id)
        names = messages.masked_fields(request.update_mask.paths, request.volume_type, types.UPDATABLE)
        return to_proto(await writer.run(types.update, type_id, _fields(request.volume_type, names)))

    async def DeleteVolumeType(self, request, context):
        await writer.run(types.delete, validation.uuid_field("id", request.id))
        return volume_type_pb2.DeleteVolumeTypeResponse()
