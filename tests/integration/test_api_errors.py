"""Bad input, missing rights and other projects' volumes get precise statuses
with google.rpc.ErrorInfo (and BadRequest for bad fields)."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from ember import auth
from ember.v1 import volume_pb2, volume_pb2_grpc
from tests import mtls
from tests.harness import Client
from tests.integration.errors_util import details


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"size_gb": 0}, "size_gb"),
        ({"size_gb": -5}, "size_gb"),
        ({"size_gb": 10**9}, "size_gb"),
        ({"size_gb": 1, "request_id": "not-a-uuid"}, "request_id"),
        ({"size_gb": 1, "name": "x" * 300}, "name"),
    ],
)
def test_bad_create_is_invalid_argument_with_field_violation(cluster, request_fields, field):
    client = cluster.client("errors")
    error = fails(client.call, client.volumes.CreateVolume, volume_pb2.CreateVolumeRequest(**request_fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = details(error)
    assert info.domain == "ember.v1" and info.reason == "INVALID_ARGUMENT"
    assert [v.field for v in bad.field_violations] == [field]


def test_bad_uuid_and_unknown_volume(cluster):
    client = cluster.client("errors")
    error = fails(client.get, "nope")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = str(uuid.uuid4())
    error = fails(client.get, missing)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    info, _ = details(error)
    assert info.reason == "VOLUME_NOT_FOUND" and info.metadata["resource_id"] == missing
    assert fails(client.delete, missing).code() == grpc.StatusCode.NOT_FOUND


def test_the_gateway_passes_errors_on_without_logging_them_as_its_own(cluster):
    client = cluster.client("errors")
    for _ in range(3):
        assert fails(client.get, str(uuid.uuid4())).code() == grpc.StatusCode.NOT_FOUND
    gateway_log = next(p for p in cluster.processes if p.name == "api_gateway").log()
    assert "Traceback" not in gateway_log, gateway_log[-3000:]


def test_projects_cannot_see_each_other(cluster):
    alice, bob = cluster.client("alice"), cluster.client("bob")
    volume = alice.create_available(1, name="private")
    for call in (lambda: bob.get(volume.id), lambda: bob.delete(volume.id)):
        assert fails(call).code() == grpc.StatusCode.NOT_FOUND
    update = volume_pb2.UpdateVolumeRequest(volume=volume_pb2.Volume(id=volume.id, name="mine"))
    assert fails(bob.call, bob.volumes.UpdateVolume, update).code() == grpc.StatusCode.NOT_FOUND
    assert list(bob.call(bob.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes) == []
    assert [v.id for v in alice.call(alice.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes] == [volume.id]
    assert alice.get(volume.id).name == "private"


def test_missing_forged_and_expired_tokens_are_unauthenticated(cluster):
    forged = auth.create_token(auth.Identity("demo", "eve"), b"not-the-secret-but-as-long-as-one-would-be", 3600)
    expired = auth.create_token(auth.Identity("demo", "eve"), cluster.secret.encode(), -10)
    for metadata in ((), (("authorization", "Bearer " + forged),), (("authorization", "Bearer " + expired),)):
        stub = volume_pb2_grpc.VolumeServiceStub(grpc.insecure_channel(cluster.gateway))
        error = fails(stub.ListVolumes, volume_pb2.ListVolumesRequest(), metadata=metadata, timeout=10)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert details(error)[0].reason in ("TOKEN_MISSING", "TOKEN_INVALID")


def test_services_refuse_calls_that_bypass_the_gateway(cluster):
    volume_service = next(p for p in cluster.processes if p.name == "volume")
    stub = volume_pb2_grpc.VolumeServiceStub(mtls.channel(cluster.data_dir, volume_service.address))
    user_token = cluster.token("demo")
    for metadata in ((), (("authorization", "Bearer " + user_token),), ((auth.INTERNAL_METADATA_KEY, user_token),)):
        error = fails(stub.ListVolumes, volume_pb2.ListVolumesRequest(), metadata=metadata, timeout=10)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert details(error)[0].reason == "NOT_FROM_GATEWAY"


def test_update_volume_with_mask(cluster):
    client = cluster.client("updates")
    volume = client.create_available(1, name="old", description="keep")
    request = volume_pb2.UpdateVolumeRequest(
        volume=volume_pb2.Volume(id=volume.id, name="new", description="ignored"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )
    updated = client.call(client.volumes.UpdateVolume, request)
    assert (updated.name, updated.description, updated.status) == ("new", "keep", volume_pb2.VOLUME_STATUS_AVAILABLE)
    request.update_mask.paths[:] = ["size_gb"]
    error = fails(client.call, client.volumes.UpdateVolume, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)[1].field_violations[0].field == "update_mask"


def test_request_id_makes_create_idempotent(cluster):
    client = cluster.client("idempotent")
    request_id = str(uuid.uuid4())
    first = client.create(1, request_id=request_id)
    again = client.create(1, request_id=request_id)
    assert first.name == again.name
    client.wait(first)
    volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
    assert len(volumes) == 1


def test_list_volumes_pages(cluster):
    client = cluster.client("paging")
    ids = {client.create_available(1).id for _ in range(5)}
    seen, token, pages = [], "", 0
    while True:
        page = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=2, page_token=token))
        seen += [v.id for v in page.volumes]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids) and pages == 3
    error = fails(client.call, client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=-1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = fails(client.call, client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_token="garbage"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_operations_are_per_project(cluster):
    from google.longrunning import operations_pb2

    alice, bob = cluster.client("ops-alice"), cluster.client("ops-bob")
    op = alice.create(1)
    got = alice.call(alice.operations.GetOperation, operations_pb2.GetOperationRequest(name=op.name))
    assert got.name == op.name
    error = fails(bob.call, bob.operations.GetOperation, operations_pb2.GetOperationRequest(name=op.name))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    listed = alice.call(alice.operations.ListOperations, operations_pb2.ListOperationsRequest(name="operations"))
    assert op.name in [o.name for o in listed.operations]
    assert not bob.call(bob.operations.ListOperations, operations_pb2.ListOperationsRequest()).operations


def test_client_for_unknown_gateway_method_is_unimplemented(cluster):
    client = Client(cluster.gateway, cluster.token())
    method = client.channel.unary_unary("/ember.v1.NoSuchService/Nothing")
    assert fails(method, b"", metadata=client.metadata, timeout=5).code() == grpc.StatusCode.UNIMPLEMENTED
