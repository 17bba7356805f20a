"""Placement across three storage hosts on one machine, one of which fails
every create on purpose: retries, spreading, extra specs, zones, thick
provisioning and the operators' dry run."""

import json
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from ember.v1 import scheduler_pb2, volume_pb2, volume_type_pb2
from tests.harness import Cluster
from tests.integration.errors_util import details

GOOD_HOSTS = {"host-a", "host-b"}


def backends(*entries) -> str:
    return json.dumps(list(entries))


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, db_backend):
    root = tmp_path_factory.mktemp("three-hosts")
    c = Cluster(root, db_backend, EMBER_BACKEND_FAILURE_COOLOFF="600", EMBER_MAX_VOLUME_SIZE_GB="100000")
    try:
        c.start_nats()
        c.start("scheduler")
        c.start(
            "volume", name="volume-a", EMBER_HOST="host-a", EMBER_DATA_DIR=str(root / "a"),
            EMBER_AVAILABILITY_ZONE="zone-a",
            EMBER_BACKENDS=backends(
                {"name": "fast", "pools": ["a1", "a2"], "capacity_gb": 1000, "capabilities": {"disk_type": "ssd"}}
            ),
        )
        c.start(
            "volume", name="volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(root / "b"),
            EMBER_AVAILABILITY_ZONE="zone-b",
            EMBER_BACKENDS=backends(
                {"name": "bulk", "pools": ["b1"], "capacity_gb": 1000, "capabilities": {"disk_type": "hdd"}},
                {"name": "thick", "pools": ["t1"], "capacity_gb": 4, "thin": False},
            ),
        )
        # The most free space, so placement tries it first, and every create there fails.
        c.start(
            "volume", name="volume-c", EMBER_HOST="host-c", EMBER_DATA_DIR=str(root / "c"),
            EMBER_AVAILABILITY_ZONE="zone-a", EMBER_FAILPOINTS="volume.driver.create=raise",
            EMBER_BACKENDS=backends(
                {"name": "broken", "pools": ["c1"], "capacity_gb": 100000},
                *({"name": f"doomed{i}", "pools": ["p"], "capacity_gb": 2, "max_over_subscription_ratio": 1,
                   "capabilities": {"tier": "doomed"}} for i in range(3)),
            ),
        )
        c.start("api_gateway")
        admin = c.client("admin", admin=True)
        for name, specs in {
            "ssd": {"disk_type": "ssd"},
            "hdd": {"capabilities:disk_type": "<in> hd", "volume_backend_name": "bulk"},
            "thick": {"provisioning:type": "thick"},
            "doomed": {"tier": "doomed"},
            "zone-b-only": {"RESKEY:availability_zones": "zone-b"},
        }.items():
            admin.call(admin.types.CreateVolumeType, volume_type_pb2.CreateVolumeTypeRequest(
                volume_type=volume_type_pb2.VolumeType(name=name, extra_specs=specs, is_public=True)))
        yield c
    finally:
        c.stop()


def failures_on(mesh, backend: str) -> int:
    log = next(p for p in mesh.processes if p.name == "volume-c").log()
    return sum(1 for line in log.splitlines() if "failed" in line and f"@{backend}#" in line)


def host(volume) -> str:
    return volume.host.partition("@")[0]


def test_a_type_only_failing_backends_match_ends_in_error_with_every_attempt(mesh):
    client = mesh.client("doomed")
    done = client.wait(client.create(1, volume_type="doomed"))
    assert done.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    volume = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes[0]
    assert volume.status == volume_pb2.VOLUME_STATUS_ERROR
    assert volume.status_detail.startswith("gave up after 3 attempts: ")
    for i in range(3):
        assert f"host-c@doomed{i}#p: failpoint volume.driver.create injected a failure" in volume.status_detail
    assert failures_on(mesh, "doomed0") == failures_on(mesh, "doomed1") == failures_on(mesh, "doomed2") == 1


def test_creates_spread_over_good_hosts_and_avoid_the_failing_backend_after_it_failed(mesh):
    client = mesh.client("spread")
    first = client.create_available(1)
    assert host(first) in GOOD_HOSTS
    assert failures_on(mesh, "broken") == 1
    admin = mesh.client("admin", admin=True)
    pools = {p.name: p for p in admin.call(admin.scheduler.ListPools, scheduler_pb2.ListPoolsRequest()).pools}
    assert "injected a failure" in pools["host-c@broken#c1"].recent_failure
    assert pools["host-a@fast#a1"].recent_failure == ""
    volumes = [client.create_available(1) for _ in range(8)]
    assert failures_on(mesh, "broken") == 1, "placement went back to the failing backend"
    assert {host(v) for v in volumes} == GOOD_HOSTS
    assert len({v.host for v in volumes}) >= 3, "free-capacity weighing should spread over the pools"
    listed = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
    assert len(listed) == 9 and all(v.status == volume_pb2.VOLUME_STATUS_AVAILABLE for v in listed)


def test_concurrent_creates_lose_nothing_and_leave_nothing_stuck(mesh):
    client = mesh.client("burst")
    with ThreadPoolExecutor(16) as pool:
        ops = list(pool.map(lambda _: client.create(1), range(32)))
        finished = list(pool.map(client.wait, ops))
    assert all(op.done and not op.HasField("error") for op in finished)
    listed = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
    assert len(listed) == 32 and {host(v) for v in listed} <= GOOD_HOSTS
    assert all(v.status == volume_pb2.VOLUME_STATUS_AVAILABLE for v in listed)


def test_extra_specs_steer_volumes_to_matching_backends(mesh):
    client = mesh.client("steer")
    ssd = [client.create_available(1, volume_type="ssd") for _ in range(3)]
    assert {v.host.partition("#")[0] for v in ssd} == {"host-a@fast"}
    assert {v.volume_type for v in ssd} == {"ssd"}
    hdd = client.create_available(1, volume_type="hdd")
    assert hdd.host == "host-b@bulk#b1" and hdd.availability_zone == "zone-b"


def test_thick_types_get_fully_allocated_volumes_on_thick_backends(mesh):
    client = mesh.client("thick")
    volume = client.create_available(1, volume_type="thick")
    assert volume.host == "host-b@thick#t1"
    path = mesh.root / "b" / "volumes" / "thick" / "t1" / f"volume-{volume.id}"
    assert path.stat().st_blocks * 512 >= 1024**3


def test_zones_are_listed_and_steer_placement(mesh):
    client = mesh.client("zones")
    zones = {z.name: z for z in client.call(client.scheduler.ListAvailabilityZones,
                                             scheduler_pb2.ListAvailabilityZonesRequest()).availability_zones}
    assert set(zones) == {"zone-a", "zone-b"}
    assert sorted(zones["zone-a"].hosts) == ["host-a", "host-c"] and zones["zone-a"].available
    in_b = client.create_available(1, availability_zone="zone-b")
    assert host(in_b) == "host-b" and in_b.availability_zone == "zone-b"
    anywhere = client.create_available(1, volume_type="zone-b-only")
    assert host(anywhere) == "host-b"


def test_unknown_or_disallowed_zones_are_invalid_arguments(mesh):
    client = mesh.client("bad-zones")
    with pytest.raises(grpc.RpcError) as err:
        client.create(1, availability_zone="zone-x")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown zone 'zone-x'; known zones: zone-a, zone-b" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        client.create(1, volume_type="zone-b-only", availability_zone="zone-a")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(err.value)[1].field_violations[0].field == "availability_zone"
    with pytest.raises(grpc.RpcError) as err:
        client.create(1, volume_type="no-such-type")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_zone_without_capacity_leaves_a_readable_error(mesh):
    client = mesh.client("full-zone")
    done = client.wait(client.create(50000, availability_zone="zone-b"))
    assert done.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    volume = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes[0]
    assert volume.status == volume_pb2.VOLUME_STATUS_ERROR
    assert "host-a@fast#a1: in zone 'zone-a', not 'zone-b'" in volume.status_detail
    assert "host-b@bulk#b1: 50000 GiB would over-subscribe it 50.0x (limit 20x)" in volume.status_detail
    assert "host-b@thick#t1: 50000 GiB requested, " in volume.status_detail


def test_dry_run_placement_explains_each_pool(mesh):
    admin = mesh.client("admin", admin=True)
    request = scheduler_pb2.ListPoolsRequest(
        hypothetical=scheduler_pb2.PlacementRequest(size_gb=1, volume_type="ssd")
    )
    answer = admin.call(admin.scheduler.ListPools, request)
    pools = {p.name: p for p in answer.pools}
    assert answer.chosen_pool.startswith("host-a@fast#")
    assert pools["host-b@bulk#b1"].rejected_reason == "capabilities not met: disk_type 'ssd' (has 'hdd')"
    assert pools["host-a@fast#a1"].rejected_reason == "" and pools["host-a@fast#a1"].capabilities["disk_type"] == "ssd"
    assert pools["host-a@fast#a1"].availability_zone == "zone-a"
    impossible = admin.call(admin.scheduler.ListPools, scheduler_pb2.ListPoolsRequest(
        hypothetical=scheduler_pb2.PlacementRequest(size_gb=1, volume_type="ssd", availability_zone="zone-b")))
    assert impossible.chosen_pool == "" and impossible.no_valid_backend.startswith("no valid backend: ")
    with pytest.raises(grpc.RpcError) as err:
        admin.call(admin.scheduler.ListPools, scheduler_pb2.ListPoolsRequest(
            hypothetical=scheduler_pb2.PlacementRequest(size_gb=1, volume_type="nope")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
