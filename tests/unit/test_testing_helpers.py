"""ember.testing itself: an RPC called as a given caller sees that caller
and fails with the status a client would get; the fake bus's accessors."""

import grpc
import pytest

from ember import events, grpc_server, testing, writer
from ember.auth import Identity
from ember.v1 import volume_pb2
from tests.unit.test_attachments import make_volume
from volume.api import VolumeApi

ALICE, BOB = Identity("alice", "alice"), Identity("bob", "bob")


@pytest.fixture
def api(database, tmp_path):
    writer.start()
    return testing.build(VolumeApi, settings=testing.make_settings(tmp_path), secret=b"secret",
                         known_zones=lambda: {"z1"})


async def test_the_servicer_sees_the_caller_and_the_test_does_not(api):
    volume_id = make_volume()
    answer = await testing.call_as(api.GetVolume, volume_pb2.GetVolumeRequest(id=volume_id), ALICE)
    assert answer.id == volume_id
    with pytest.raises(testing.CallFailed) as refused:
        await testing.call_as(api.GetVolume, volume_pb2.GetVolumeRequest(id=volume_id), BOB)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.NOT_FOUND, "VOLUME_NOT_FOUND")
    assert refused.value.metadata == {"resource_type": "volume", "resource_id": volume_id}
    with pytest.raises(LookupError):
        grpc_server.current_identity()


async def test_bad_input_fails_with_its_violations(api):
    with pytest.raises(testing.CallFailed) as refused:
        await testing.call_as(api.CreateVolume, volume_pb2.CreateVolumeRequest(size_gb=1, availability_zone="z9"),
                              ALICE)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in refused.value.violations] == ["availability_zone"]
    assert "unknown zone 'z9'" in str(refused.value)


async def test_an_unexpected_error_is_internal_as_on_a_real_call(api, monkeypatch):
    async def broken(request, context):
        raise KeyError("bug")

    monkeypatch.setattr(api, "GetVolume", broken, raising=False)
    with pytest.raises(testing.CallFailed) as failed:
        await testing.call_as(api.GetVolume, volume_pb2.GetVolumeRequest(id="x"), ALICE)
    assert (failed.value.code, failed.value.message) == (grpc.StatusCode.INTERNAL, "internal error; see the service log")


async def test_a_call_that_starts_an_operation_publishes_its_task(api):
    operation = await testing.call_as(api.CreateVolume, volume_pb2.CreateVolumeRequest(size_gb=1), ALICE)
    (task,) = api.bus.tasks_on("ember.tasks.scheduler.create")
    assert task.msg_id == operation.name.removeprefix("operations/")


async def test_the_fake_bus_finds_events_by_resource():
    bus = testing.FakeBus()
    await events.announce(bus, "volumes", "v1", "available", "op-1")
    await events.announce(bus, "volumes", "v2", "error")
    assert bus.statuses("volumes", "v1") == ["available"]
    assert bus.events_of("volumes", "v2") == [{"resource": "volumes", "id": "v2", "status": "error"}]
    bus.broken = ConnectionError("NATS is away")
    await events.announce(bus, "volumes", "v1", "deleted")
    assert len(bus.events) == 2, "events are best effort: a broken bus loses them, as announce() allows"
