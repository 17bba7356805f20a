"""SchedulerService gRPC entrypoints (admin): the pools and their figures."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from ember.v1 import scheduler_pb2, scheduler_pb2_grpc
from scheduler.pool_view import PoolView
from scheduler.pools import PoolState


def pool_to_proto(pool: PoolState, stale: bool) -> scheduler_pb2.Pool:
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
    )


class SchedulerApi(scheduler_pb2_grpc.SchedulerServiceServicer):
    def __init__(self, view: PoolView):
        self.view = view

    async def ListPools(self, request, context):
        pools = [pool_to_proto(p, self.view.is_stale(p)) for p in self.view.all_pools()]
        return scheduler_pb2.ListPoolsResponse(pools=pools)
