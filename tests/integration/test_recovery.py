"""No volume is left stuck when a process dies mid-way: JetStream redelivers
unacked tasks, the outbox re-publishes tasks that never reached it, and a task
waits in the stream while no worker runs."""

import time

import grpc
import pytest
from google.longrunning import operations_pb2

from ember.v1 import volume_pb2
from tests.integration.errors_util import details


def start_cluster(c, **volume_env):
    c.start_nats()
    c.start("scheduler")
    volume = c.start("volume", **volume_env)
    c.start("api_gateway")
    return volume


def test_volume_service_killed_after_the_driver_finishes_the_create_on_restart(fresh_cluster):
    c = fresh_cluster
    volume_proc = start_cluster(c, EMBER_FAILPOINTS="volume.create.after_driver=exit")
    client = c.client()
    op = client.create(3)
    assert volume_proc.popen.wait(timeout=30) == 17, "the failpoint should have killed the volume service"
    pending = client.wait(op, timeout=1)
    assert not pending.done
    c.start("volume")
    done = client.wait(op, timeout=30)
    assert done.done and not done.HasField("error"), (done, c.logs())
    volume = volume_pb2.Volume()
    done.response.Unpack(volume)
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert (c.root / "volumes" / "file" / "default" / f"volume-{volume.id}").stat().st_size == 3 * 1024**3


def test_task_lost_between_commit_and_publish_is_republished_by_the_outbox(fresh_cluster):
    c = fresh_cluster
    volume_proc = start_cluster(c, EMBER_FAILPOINTS="volume.api.before_publish=exit")
    client = c.client()
    with pytest.raises(grpc.RpcError):
        client.create(1, name="orphan")
    assert volume_proc.popen.wait(timeout=30) == 17
    c.start("volume")
    listed = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
    assert [v.name for v in listed] == ["orphan"]
    operations = client.call(client.operations.ListOperations, operations_pb2.ListOperationsRequest()).operations
    done = client.wait(operations[0], timeout=30)
    assert done.done and not done.HasField("error"), (done, c.logs())
    assert client.get(listed[0].id).status == volume_pb2.VOLUME_STATUS_AVAILABLE


def test_create_waits_in_jetstream_while_no_scheduler_runs(fresh_cluster):
    c = fresh_cluster
    c.start_nats()
    c.start("volume")
    c.start("api_gateway")
    client = c.client()
    op = client.create(1)
    volume_id = [v for v in client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes][0].id
    assert client.get(volume_id).status == volume_pb2.VOLUME_STATUS_CREATING
    with pytest.raises(grpc.RpcError) as err:
        client.delete(volume_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "creating" in err.value.details()
    assert details(err.value)[0].metadata["status"] == "creating"
    c.start("scheduler")
    done = client.wait(op, timeout=30)
    assert done.done and not done.HasField("error"), (done, c.logs())
    assert client.get(volume_id).status == volume_pb2.VOLUME_STATUS_AVAILABLE


def test_gateway_fails_over_to_another_volume_instance(fresh_cluster):
    c = fresh_cluster
    first = start_cluster(c)
    c.start("volume", name="volume-2")
    client = c.client()
    volume = client.create_available(1)
    first.kill()
    for _ in range(6):
        assert client.get(volume.id).id == volume.id


def test_services_stop_cleanly_after_idling(fresh_cluster):
    """Stopping must not wait on pull requests that expired while idle."""
    c = fresh_cluster
    start_cluster(c)
    client = c.client()
    client.create_available(1)
    # Long enough for the task consumers' pull requests to expire and renew.
    time.sleep(7)
    for proc in reversed(c.processes):
        assert proc.stop(timeout=10) == 0, f"{proc.name} did not exit cleanly:\n{proc.log()[-2000:]}"
