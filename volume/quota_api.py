"""QuotaService gRPC entrypoints: quotas by their public resource names
("volumes_<type>"), stored by type id so that renaming a type keeps them."""

from __future__ import annotations

import asyncio

from ember import quota, writer
from ember.config import Settings
from ember.db import VolumeType, write_transaction
from ember.errors import InvalidArgument, PermissionDenied
from ember.grpc_server import current_identity
from ember.v1 import quota_pb2, quota_pb2_grpc

MAX_LIMIT = 2**53


def _names() -> dict[str, str]:
    """Public resource name -> stored resource name, for every resource."""
    names = {resource: resource for resource in quota.RESOURCES}
    for volume_type in VolumeType.select(VolumeType.id, VolumeType.name):
        for kind in quota.KINDS:
            names[quota.per_type_label(kind, volume_type.name)] = quota.per_type(kind, volume_type.id)
    return names


def read(project_id: str, defaults: dict[str, int]) -> quota_pb2.Quota:
    names = _names()
    limits = quota.limits(project_id, defaults)
    usage = quota.usage(project_id)
    return quota_pb2.Quota(
        project_id=project_id,
        limits={public: limits.get(stored, quota.UNLIMITED) for public, stored in names.items()},
        usage={public: usage.get(stored, 0) for public, stored in names.items()},
    )


def update(project_id: str, new_limits: dict[str, int], defaults: dict[str, int]) -> quota_pb2.Quota:
    with write_transaction():
        names = _names()
        unknown = sorted(set(new_limits) - set(names))
        if unknown:
            raise InvalidArgument(
                "limits", f"no quota resource {', '.join(unknown)}; resources: {', '.join(sorted(names))}"
            )
        quota.set_limits(project_id, {names[public]: limit for public, limit in new_limits.items()})
        return read(project_id, defaults)


class QuotaApi(quota_pb2_grpc.QuotaServiceServicer):
    def __init__(self, settings: Settings):
        self.settings = settings

    async def GetQuota(self, request, context):
        identity = current_identity()
        project_id = request.project_id or identity.project_id
        if project_id != identity.project_id and not identity.is_admin:
            raise PermissionDenied(
                "reading another project's quota needs the admin role", metadata={"project_id": project_id}
            )
        return await asyncio.to_thread(read, project_id, quota.defaults(self.settings))

    async def UpdateQuota(self, request, context):
        if not request.project_id:
            raise InvalidArgument("project_id", "is required")
        for resource, limit in request.limits.items():
            if not quota.UNLIMITED <= limit <= MAX_LIMIT:
                raise InvalidArgument(f"limits[{resource}]", f"must be -1 (no limit) or 0-{MAX_LIMIT}, got {limit}")
        return await writer.run(update, request.project_id, dict(request.limits), quota.defaults(self.settings))
