"""The same workflow with PostgreSQL as the shared database, as a multi-node
deployment runs it. Skipped only where no PostgreSQL is installed; CI sets
EMBER_REQUIRE_POSTGRES=1 so that there it cannot be skipped."""

import os
import grpc
import pytest

from ember.v1 import volume_pb2, volume_type_pb2
from tests.harness import Cluster
from tests.integration import checks
from tests.postgres import Postgres, binaries


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory):
    if binaries() is None:
        if os.environ.get("EMBER_REQUIRE_POSTGRES"):
            pytest.fail("EMBER_REQUIRE_POSTGRES is set but no PostgreSQL binaries were found")
        pytest.skip("PostgreSQL is not installed here")
    root = tmp_path_factory.mktemp("pg-ember")
    pg = Postgres().start()
    c = Cluster(root)
    c.settings["EMBER_DATABASE_URL"] = pg.url
    try:
        c.start_all()
        yield c
    finally:
        c.stop()
        pg.stop()


def test_lifecycle_on_postgres(pg_cluster):
    client = pg_cluster.client("pg")
    volume = client.create_available(2, name="on-pg")
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    done = client.wait(client.delete(volume.id))
    assert done.done and not done.HasField("error")
    with pytest.raises(grpc.RpcError) as err:
        client.get(volume.id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_fifty_concurrent_creates_against_a_quota_of_ten_create_ten_on_postgres(pg_cluster):
    checks.fifty_creates_against_a_quota_of_ten_create_ten(pg_cluster, "pg-race")


def test_types_in_use_cannot_be_deleted_on_postgres(pg_cluster):
    admin = pg_cluster.client("pg-admin", admin=True)
    made = admin.make_type("pg-type", is_public=True)
    admin.create_available(1, volume_type="pg-type")
    with pytest.raises(grpc.RpcError) as err:
        admin.call(admin.types.DeleteVolumeType, volume_type_pb2.DeleteVolumeTypeRequest(id=made.id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
