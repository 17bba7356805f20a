"""SchedulerService gRPC entrypoints: the pools with their figures (and a dry
run of placement for operators), and the availability zones."""

from __future__ import annotations

import asyncio

from google.protobuf import timestamp_pb2

from ember.config import Settings
from ember.db import VolumeType
from ember.errors import InvalidArgument
from ember.v1 import scheduler_pb2, scheduler_pb2_grpc
from scheduler.placement import Request, health_filter, place
from scheduler.pool_view import PoolView
from scheduler.pools import PoolState
from scheduler.tasks import policy


def pool_to_proto(pool: PoolState, stale: bool, recent_failure: str) -> scheduler_pb2.Pool:
    reported = timestamp_pb2.Timestamp()
    reported.FromNanoseconds(int(pool.reported_at * 1e9))
    return scheduler_pb2.Pool(
        name=pool.name,
        host=pool.host,
        backend=pool.backend,
        pool=pool.pool,
        total_capacity_gb=pool.total_capacity_gb,
        free_capacity_gb=pool.free_capacity_gb,
        provisioned_capacity_gb=pool.provisioned_capacity_gb,
        reserved_percentage=pool.reserved_percentage,
        max_over_subscription_ratio=pool.max_over_subscription_ratio,
        thin_provisioning_support=pool.thin_provisioning_support,
        capabilities=pool.capabilities,
        reported_at=reported,
        stale=stale,
        virtual_free_capacity_gb=pool.virtual_free_gb,
        availability_zone=pool.availability_zone,
        recent_failure=recent_failure,
    )


def _extra_specs(type_name: str) -> dict[str, str]:
    if type_name:
        found = VolumeType.get_or_none(VolumeType.name == type_name)
        if found is None:
            raise InvalidArgument("hypothetical.volume_type", f"no volume type named {type_name!r}")
    else:
        found = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    return found.extra_specs


class SchedulerApi(scheduler_pb2_grpc.SchedulerServiceServicer):
    def __init__(self, view: PoolView, settings: Settings):
        self.view, self.settings = view, settings

    async def ListPools(self, request, context):
        rules = policy(self.settings)
        pools = self.view.all_pools()
        response = scheduler_pb2.ListPoolsResponse(
            pools=[
                pool_to_proto(pool, self.view.is_stale(pool), health_filter(pool, Request(0), rules) or "")
                for pool in pools
            ]
        )
        if request.HasField("hypothetical"):
            asked = request.hypothetical
            if asked.size_gb < 1:
                raise InvalidArgument("hypothetical.size_gb", f"must be at least 1 GiB, got {asked.size_gb}")
            specs = await asyncio.to_thread(_extra_specs, asked.volume_type)
            decision = place(pools, Request(asked.size_gb, asked.availability_zone, specs), rules)
            for entry in response.pools:
                entry.rejected_reason = decision.rejected.get(entry.name, "")
                entry.weight = decision.weights.get(entry.name, 0.0)
            if decision.chosen:
                response.chosen_pool = decision.chosen.name
            else:
                response.no_valid_backend = decision.reason()
        return response

    async def ListAvailabilityZones(self, request, context):
        zones: dict[str, scheduler_pb2.AvailabilityZone] = {}
        for pool in self.view.all_pools():
            zone = zones.setdefault(pool.availability_zone, scheduler_pb2.AvailabilityZone(name=pool.availability_zone))
            if pool.host not in zone.hosts:
                zone.hosts.append(pool.host)
            zone.available = zone.available or not self.view.is_stale(pool)
        return scheduler_pb2.ListAvailabilityZonesResponse(availability_zones=sorted(zones.values(), key=lambda z: z.name))
