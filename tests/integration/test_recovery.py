"""Work waits while its service is away: a task stays in the stream while no
worker runs, the gateway fails over, and idle services stop cleanly (the
kill -9 cases are the fault matrix, test_fault_matrix.py)."""

import asyncio
import time

import grpc
import pytest

from ember import launcher, outbox, subjects
from ember.bus import Bus
from ember.db import utcnow
from ember.v1 import volume_pb2
from tests.integration.errors_util import details


def start_cluster(c, **volume_env):
    c.start_nats()
    c.start("scheduler")
    volume = c.start("volume", **volume_env)
    c.start("api_gateway")
    return volume


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


def test_jetstream_keeps_a_republished_task_it_would_drop_as_a_duplicate(tmp_path):
    """The outbox re-publishes a task whose first copy was stored and then went
    unfinished; under the first copy's id the stream would drop it."""
    mesh = launcher.Mesh(tmp_path)
    nats_server = mesh.start_nats(launcher.free_port())

    async def stored_after_each_publish() -> list[int]:
        bus = await Bus.connect(nats_server.address, "test", options=mesh.nats_options())
        try:
            await bus.ensure_streams()
            task = outbox.Task(subjects.scheduler_task("create"), "op-1", {"operation_id": "op-1"})
            stored = []
            for copy in (task, task, outbox.republished(task, utcnow())):
                await bus.publish_task(copy.subject, copy.payload, copy.msg_id)
                stored.append((await bus.js.stream_info(subjects.TASKS_STREAM)).state.messages)
            return stored
        finally:
            await bus.close()

    try:
        assert asyncio.run(stored_after_each_publish()) == [1, 1, 2]
    finally:
        mesh.stop()
