"""Create -> available -> list -> delete -> gone, through the gateway, with
every service a real process."""

import grpc
import pytest

from ember.v1 import common_pb2, volume_pb2


def test_create_list_delete(cluster):
    client = cluster.client("lifecycle")
    op = client.create(2, name="data", metadata={"tier": "gold"})
    assert op.name.startswith("operations/")
    meta = common_pb2.OperationMetadata()
    op.metadata.Unpack(meta)
    assert meta.verb == "CreateVolume"

    done = client.wait(op)
    assert done.done and not done.HasField("error"), done
    volume = volume_pb2.Volume()
    done.response.Unpack(volume)
    assert volume.status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert volume.host == "host-a@file#default"
    assert (cluster.root / "volumes" / "file" / "default" / f"volume-{volume.id}").stat().st_size == 2 * 1024**3

    shown = client.get(volume.id)
    assert (shown.name, shown.size_gb, dict(shown.metadata)) == ("data", 2, {"tier": "gold"})
    listed = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest())
    assert [v.id for v in listed.volumes] == [volume.id]

    deleted = client.wait(client.delete(volume.id))
    assert deleted.done and not deleted.HasField("error"), deleted
    with pytest.raises(grpc.RpcError) as err:
        client.get(volume.id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (cluster.root / "volumes" / "file" / "default" / f"volume-{volume.id}").exists()
