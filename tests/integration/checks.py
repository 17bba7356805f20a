"""Checks that run against more than one Ember (SQLite and PostgreSQL)."""

import grpc

from ember.v1 import quota_pb2, volume_pb2


def fifty_creates_against_a_quota_of_ten_create_ten(cluster, project: str) -> None:
    cluster.set_quota(project, volumes=10)
    client = cluster.client(project)
    codes = client.concurrent_creates(50)
    assert codes.count(grpc.StatusCode.OK) == 10
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 40
    assert len(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes) == 10
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest())
    assert (usage.limits["volumes"], usage.usage["volumes"], usage.usage["gigabytes"]) == (10, 10, 10)
