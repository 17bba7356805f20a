"""Volume types and quotas through the gateway: admin-only changes, what each
project sees, and quota limits that hold under concurrency."""

import grpc
import pytest
from google.protobuf import field_mask_pb2

from ember.v1 import quota_pb2, volume_pb2, volume_type_pb2
from tests.integration.errors_util import details


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


def test_only_admins_change_types(cluster):
    user = cluster.client("types-user")
    error = fails(user.make_type, "mine", is_public=True)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    admin = cluster.client("types-admin", admin=True)
    created = admin.make_type("gold", extra_specs={"disk_type": "ssd"}, is_public=True)
    assert (created.name, dict(created.extra_specs), created.is_default) == ("gold", {"disk_type": "ssd"}, False)
    assert fails(admin.make_type, "gold", is_public=True).code() == grpc.StatusCode.ALREADY_EXISTS
    bad = fails(admin.make_type, "bad", extra_specs={"iops": ">= lots"})
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT and "needs a number" in bad.details()
    assert user.call(user.types.GetVolumeType, volume_type_pb2.GetVolumeTypeRequest(id="gold")).id == created.id


def test_private_types_are_hidden_from_other_projects(cluster):
    admin = cluster.client("types-admin", admin=True)
    private = admin.make_type("private-fast", is_public=False, access_project_ids=["insider"])
    insider, outsider = cluster.client("insider"), cluster.client("outsider")
    listing = lambda c: [t.name for t in c.call(c.types.ListVolumeTypes, volume_type_pb2.ListVolumeTypesRequest()).volume_types]  # noqa: E731
    assert "private-fast" in listing(insider) and "private-fast" not in listing(outsider)
    get = volume_type_pb2.GetVolumeTypeRequest(id=private.id)
    assert fails(outsider.call, outsider.types.GetVolumeType, get).code() == grpc.StatusCode.NOT_FOUND
    assert insider.create_available(1, volume_type="private-fast").volume_type == "private-fast"
    assert fails(outsider.create, 1, volume_type="private-fast").code() == grpc.StatusCode.INVALID_ARGUMENT


def test_types_in_use_cannot_be_deleted_and_the_default_moves(cluster):
    admin = cluster.client("types-admin", admin=True)
    silver = admin.make_type("silver", is_public=True)
    volume = admin.create_available(1, volume_type="silver")
    error = fails(admin.call, admin.types.DeleteVolumeType, volume_type_pb2.DeleteVolumeTypeRequest(id=silver.id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error)[0].reason == "VOLUME_TYPE_IN_USE"
    renamed = admin.call(admin.types.UpdateVolumeType, volume_type_pb2.UpdateVolumeTypeRequest(
        volume_type=volume_type_pb2.VolumeType(id=silver.id, name="argent"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"])))
    assert renamed.name == "argent" and admin.get(volume.id).volume_type == "argent"
    admin.wait(admin.delete(volume.id))
    admin.call(admin.types.DeleteVolumeType, volume_type_pb2.DeleteVolumeTypeRequest(id=silver.id))

    bronze = admin.make_type("bronze", is_public=True)
    admin.call(admin.types.UpdateVolumeType, volume_type_pb2.UpdateVolumeTypeRequest(
        volume_type=volume_type_pb2.VolumeType(id=bronze.id, is_default=True),
        update_mask=field_mask_pb2.FieldMask(paths=["is_default"])))
    assert admin.create_available(1).volume_type == "bronze"
    error = fails(admin.call, admin.types.DeleteVolumeType, volume_type_pb2.DeleteVolumeTypeRequest(id=bronze.id))
    assert details(error)[0].reason == "VOLUME_TYPE_IS_DEFAULT"
    default = admin.call(admin.types.GetVolumeType, volume_type_pb2.GetVolumeTypeRequest(id="default"))
    admin.call(admin.types.UpdateVolumeType, volume_type_pb2.UpdateVolumeTypeRequest(
        volume_type=volume_type_pb2.VolumeType(id=default.id, is_default=True),
        update_mask=field_mask_pb2.FieldMask(paths=["is_default"])))


def test_fifty_concurrent_creates_against_a_quota_of_ten_create_ten(cluster):
    cluster.set_quota("race-50", volumes=10)
    client = cluster.client("race-50")
    codes = client.concurrent_creates(50)
    assert codes.count(grpc.StatusCode.OK) == 10
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 40
    assert len(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes) == 10
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest())
    assert (usage.limits["volumes"], usage.usage["volumes"], usage.usage["gigabytes"]) == (10, 10, 10)


def test_per_type_quotas(cluster):
    admin = cluster.client("quota-admin", admin=True)
    admin.make_type("scarce", is_public=True)
    quota = cluster.set_quota("typed", volumes_scarce=1, gigabytes=100)
    assert quota.limits["volumes_scarce"] == 1 and quota.limits["gigabytes_scarce"] == -1
    client = cluster.client("typed")
    client.create_available(1, volume_type="scarce")
    error = fails(client.create, 1, volume_type="scarce")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error)[0].metadata["quota"] == "volumes_scarce"
    assert "1 of its 1 volumes_scarce quota in use" in error.details()
    client.create_available(1)
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest()).usage
    assert (usage["volumes"], usage["volumes_scarce"], usage["volumes_default"]) == (2, 1, 1)


def test_quota_admin_rules_and_bad_input(cluster):
    user = cluster.client("nosy")
    error = fails(user.call, user.quotas.UpdateQuota, quota_pb2.UpdateQuotaRequest(project_id="nosy", limits={"volumes": 99}))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = fails(user.call, user.quotas.GetQuota, quota_pb2.GetQuotaRequest(project_id="someone-else"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert user.call(user.quotas.GetQuota, quota_pb2.GetQuotaRequest()).project_id == "nosy"
    for limits, field in (({"volumes": -2}, "limits[volumes]"), ({"teapots": 3}, "limits")):
        error = fails(cluster.set_quota, "nosy", **limits)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details(error)[1].field_violations[0].field == field
