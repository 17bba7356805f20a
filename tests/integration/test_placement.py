"""Placement through the real scheduler: capacity reports, no valid backend,
quotas, two hosts, and the admin view of the pools."""

import grpc
import pytest

from ember.v1 import scheduler_pb2, volume_pb2
from tests.harness import Cluster
from tests.integration.errors_util import details


@pytest.fixture(scope="module")
def small(tmp_path_factory, db_backend):
    """Two hosts with 10 GiB pools and no over-subscription; a 3-volume quota."""
    c = Cluster(
        tmp_path_factory.mktemp("small"),
        db_backend,
        EMBER_POOL_CAPACITY_GB="10",
        EMBER_MAX_OVER_SUBSCRIPTION_RATIO="1",
        EMBER_QUOTA_VOLUMES="3",
        EMBER_QUOTA_GIGABYTES="40",
    )
    try:
        c.start_nats()
        c.start("scheduler")
        c.start("volume", EMBER_HOST="host-a", EMBER_DATA_DIR=str(c.root / "a"))
        c.start("volume", name="volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(c.root / "b"), EMBER_POOLS="fast,slow")
        c.start("api_gateway")
        yield c
    finally:
        c.stop()


def test_no_valid_backend_leaves_a_readable_error(small):
    client = small.client("too-big")
    op = client.wait(client.create(11))
    assert op.done and op.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "no valid backend" in op.error.message
    volume = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes[0]
    assert volume.status == volume_pb2.VOLUME_STATUS_ERROR
    for pool in ("host-a@file#default", "host-b@file#fast", "host-b@file#slow"):
        assert pool in volume.status_detail
    assert "11 GiB would over-subscribe it 1.1x (limit 1x)" in volume.status_detail
    # An error volume never placed can still be deleted, at once.
    deleted = client.delete(volume.id)
    assert deleted.done and not deleted.HasField("error")


def test_creates_spread_over_hosts_and_pools_by_free_capacity(small):
    client = small.client("spread")
    hosts = {client.create_available(4).host for _ in range(3)}
    assert len(hosts) == 3, hosts


def test_quota_is_resource_exhausted(small):
    client = small.client("quota")
    for _ in range(3):
        client.create_available(1)
    with pytest.raises(grpc.RpcError) as err:
        client.create(1)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info, _ = details(err.value)
    assert info.reason == "QUOTA_EXCEEDED" and info.metadata["quota"] == "volumes"


def test_list_pools_is_admin_only_and_shows_capacity(small):
    user = small.client("pools")
    with pytest.raises(grpc.RpcError) as err:
        user.call(user.scheduler.ListPools, scheduler_pb2.ListPoolsRequest())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    admin = small.client("pools", admin=True)
    pools = {p.name: p for p in admin.call(admin.scheduler.ListPools, scheduler_pb2.ListPoolsRequest()).pools}
    assert set(pools) == {"host-a@file#default", "host-b@file#fast", "host-b@file#slow"}
    pool = pools["host-b@file#slow"]
    assert (pool.host, pool.backend, pool.pool) == ("host-b", "file", "slow")
    assert pool.total_capacity_gb == 10 and pool.max_over_subscription_ratio == 1
    assert pool.capabilities["driver"] == "file" and not pool.stale
    assert pool.reported_at.seconds > 0
    assert pool.virtual_free_capacity_gb == pool.total_capacity_gb - pool.provisioned_capacity_gb


def test_concurrent_creates_never_exceed_the_configured_default_quota(small):
    client = small.client("race")
    codes = client.concurrent_creates(12)
    assert codes.count(grpc.StatusCode.OK) == 3
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 9
    assert len(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes) == 3


def test_deleted_volumes_give_their_quota_back(small):
    client = small.client("quota-back")
    volumes = [client.create_available(1) for _ in range(3)]
    with pytest.raises(grpc.RpcError):
        client.create(1)
    for volume in volumes:
        done = client.wait(client.delete(volume.id))
        assert done.done and not done.HasField("error")
    again = [client.create_available(1) for _ in range(3)]
    assert len({v.id for v in again}) == 3
