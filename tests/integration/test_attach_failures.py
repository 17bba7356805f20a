"""A failed or abandoned attach leaves nothing behind and stops nothing: a
failed export (injected, no nbdkit, a storage host killed midway) gives back
its reservation; a host whose exports cannot come back still starts, serves
the rest, reports them and restores them once it can; request_id replays;
reservations nobody completes are released after the timeout."""

import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from ember.v1 import attachment_pb2, volume_pb2
from tests import nbd
from tests.integration.errors_util import details
from tests.integration.live_util import ember, events_of
from tests.integration.test_attachments import detach, fails

MIB = 1024 * 1024
NBD = attachment_pb2.Connector(host="compute-1", ip="127.0.0.1", initiator="ember:compute-1", transports=["nbd"])
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])


@pytest.fixture(scope="module", autouse=True)
def tools():
    nbd.require_tools()


def create(client, volume_id, connector=None, request_id="", instance="vm-1", timeout=60):
    return client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id=instance, connector=connector, request_id=request_id), timeout=timeout)


def complete(client, attachment_id):
    return client.call(client.volumes.CompleteAttachment,
                       attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment_id), timeout=60)


def get(client, attachment_id):
    return client.call(client.volumes.GetAttachment, attachment_pb2.GetAttachmentRequest(id=attachment_id))


def listed(client, volume_id):
    return list(client.call(client.volumes.ListAttachments,
                            attachment_pb2.ListAttachmentsRequest(volume_id=volume_id)).attachments)


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s"
        time.sleep(0.2)


def export_records(cluster):
    return sorted(p.stem for p in (cluster.root / "exports").glob("*.json"))


def attach_locally_works(client, volume_id):
    """The volume is free again: a local attach is made, completed and detached."""
    local = complete(client, create(client, volume_id, LOCAL, instance="vm-local").id)
    assert local.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED
    assert client.get(volume_id).status == volume_pb2.VOLUME_STATUS_IN_USE
    detach(client, local.id)


def assert_nothing_held(cluster, client, volume_id):
    assert listed(client, volume_id) == []
    assert client.get(volume_id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert export_records(cluster) == []


@pytest.mark.parametrize("cause, setting, says", [
    ("failpoint", {"EMBER_FAILPOINTS": "volume.nbd.export=raise"}, "failpoint volume.nbd.export"),
    ("no nbdkit", {"EMBER_NBDKIT": "/nonexistent/nbdkit"}, "No such file or directory"),
])
def test_a_failed_export_gives_back_what_it_took(fresh_cluster, cause, setting, says):
    c = fresh_cluster
    c.start_all(extra={"volume": setting})
    client = c.client()
    volume = client.create_available(1)
    request_id = str(uuid.uuid4())
    error = fails(create, client, volume.id, NBD, request_id)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    info = details(error)[0]
    assert info.reason == "EXPORT_FAILED" and says in error.details() and "was released" in error.details()
    assert_nothing_held(c, client, volume.id)
    again = fails(create, client, volume.id, NBD, request_id)
    assert (again.code(), again.details()) == (error.code(), error.details()), "a retry gets the same failure"
    assert listed(client, volume.id) == []
    released = events_of(c, "attachments", info.metadata["attachment_id"])[-1]
    assert released["status"] == "deleted" and says in released["released"]

    held = create(client, volume.id)
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_RESERVED
    error = fails(client.call, client.volumes.UpdateAttachment, attachment_pb2.UpdateAttachmentRequest(
        attachment_id=held.id, connector=NBD), timeout=60)
    assert error.code() == grpc.StatusCode.UNAVAILABLE and details(error)[0].reason == "EXPORT_FAILED"
    assert fails(get, client, held.id).code() == grpc.StatusCode.NOT_FOUND
    assert_nothing_held(c, client, volume.id)
    attach_locally_works(client, volume.id)


@pytest.mark.parametrize("failpoint", ["volume.attach.before_export", "volume.attach.after_export"])
def test_a_storage_host_killed_during_the_export_gives_the_reservation_back(fresh_cluster, failpoint):
    c = fresh_cluster
    first = c.start_two_hosts()
    client = c.client()
    volume = client.create_available(1)
    first.stop()
    dying = c.start("volume", EMBER_FAILPOINTS=f"{failpoint}=exit")
    request_id = str(uuid.uuid4())
    cut = fails(create, client, volume.id, NBD, request_id)
    assert cut.code() == grpc.StatusCode.UNAVAILABLE
    assert dying.popen.wait(timeout=30) == 17
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_ATTACHING

    c.start("volume")
    retried = fails(create, client, volume.id, NBD, request_id)
    assert retried.code() == grpc.StatusCode.UNAVAILABLE and details(retried)[0].reason == "EXPORT_FAILED"
    assert "restarted while it exported" in retried.details()
    assert_nothing_held(c, client, volume.id)
    attach_locally_works(client, volume.id)


def nbdkit_pid(cluster, attachment_id) -> int:
    return int((cluster.root / "exports" / f"{attachment_id}.pid").read_text())


def test_a_host_whose_export_cannot_come_back_starts_serves_the_rest_and_restores_it_later(fresh_cluster, tmp_path):
    c = fresh_cluster
    nbdkit = tmp_path / "bin" / "nbdkit"
    nbdkit.parent.mkdir()
    nbdkit.symlink_to(shutil.which("nbdkit"))
    host = {"EMBER_NBDKIT": str(nbdkit), "EMBER_EXPORT_RETRY_MAX": "1"}
    c.start_all(extra={"volume": host})
    client = c.client()
    volume = client.create_available(1)
    attached = complete(client, create(client, volume.id, NBD).id)
    export = attached.connection_info.data
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(4 * MIB))
    assert nbd.write(data, export).returncode == 0

    next(p for p in c.processes if p.name == "volume").stop()
    os.kill(nbdkit_pid(c, attached.id), 9)
    wait_for(lambda: not nbd.answers(export))
    nbdkit.unlink()
    restarted = c.start("volume", **host)

    failing = get(client, attached.id)
    assert failing.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED and failing.HasField("export_failed_at")
    assert str(nbdkit) in failing.status_detail
    assert "cannot be served, retrying with back-off" in restarted.log()
    shown = ember(c, "status")
    assert shown.returncode == 1
    assert "Failed exports" in shown.stdout and attached.id in shown.stdout
    assert f"PROBLEM: the export of attachment {attached.id}" in shown.stdout
    refused = fails(complete, client, attached.id)
    assert refused.code() == grpc.StatusCode.UNAVAILABLE and details(refused)[0].reason == "EXPORT_FAILED"
    assert str(nbdkit) in refused.details(), "CompleteAttachment tries the export again and says why it fails"

    other = client.create_available(1)
    attach_locally_works(client, other.id)
    client.done(client.delete(other.id), volume_pb2.Volume())

    nbdkit.symlink_to(shutil.which("nbdkit"))
    wait_for(lambda: nbd.answers(export))
    wait_for(lambda: not get(client, attached.id).HasField("export_failed_at"))
    assert get(client, attached.id).status_detail == ""
    back = tmp_path / "back.bin"
    nbd.read(export, back)
    assert nbd.same_start(back, data.read_bytes())
    assert [e.get("export") for e in events_of(c, "attachments", attached.id) if "export" in e] == [
        "failed", "restored"]
    assert ember(c, "status").returncode == 0
    detach(client, attached.id)


def test_a_repeated_request_id_returns_the_same_attachment(cluster):
    client = cluster.client("request-ids")
    volume, crowded = client.create_available(1), client.create_available(1)
    request_id = str(uuid.uuid4())
    first = create(client, volume.id, NBD, request_id)
    again = create(client, volume.id, NBD, request_id)
    assert again.id == first.id and again.connection_info == first.connection_info
    assert [a.id for a in listed(client, volume.id)] == [first.id]

    at_once = str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: create(client, crowded.id, NBD, at_once), range(8)))
    assert len({a.id for a in answers}) == 1
    assert len({(a.connection_info.data["uri"], a.connection_info.data["tls_psk_key"]) for a in answers}) == 1
    assert [a.id for a in listed(client, crowded.id)] == [answers[0].id]
    assert nbd.answers(answers[0].connection_info.data)

    for call in (lambda: create(client, crowded.id, NBD, request_id),
                 lambda: create(client, volume.id, NBD, request_id, instance="vm-2"),
                 lambda: create(client, volume.id, NBD, "not-a-uuid")):
        refused = fails(call)
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in refused.details()
    detach(client, first.id)
    detach(client, answers[0].id)
    gone = fails(create, client, volume.id, NBD, request_id)
    assert gone.code() == grpc.StatusCode.FAILED_PRECONDITION and details(gone)[0].reason == "ATTACHMENT_DELETED"
    assert listed(client, volume.id) == []


def test_a_reservation_nobody_completes_is_released_and_a_completed_one_stays(fresh_cluster):
    c = fresh_cluster
    timeout = 4.0
    c.start_all(extra={"volume": {"EMBER_ATTACHMENT_RESERVE_TIMEOUT": str(timeout)}})
    client = c.client()
    exported, reserved, in_time = (client.create_available(1) for _ in range(3))
    request_id = str(uuid.uuid4())
    left_attaching = create(client, exported.id, NBD, request_id)
    left_reserved = create(client, reserved.id)
    completed = create(client, in_time.id, NBD)
    export = left_attaching.connection_info.data
    assert nbd.answers(export)
    time.sleep(timeout * 0.6)
    complete(client, completed.id)

    for abandoned, volume in ((left_attaching, exported), (left_reserved, reserved)):
        wait_for(lambda: not listed(client, volume.id), timeout=timeout + 15)
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
        event = events_of(c, "attachments", abandoned.id)[-1]
        assert event["status"] == "deleted" and "without CompleteAttachment" in event["released"]
        assert f"attachment {abandoned.id} was released" in next(p for p in c.processes if p.name == "volume").log()
    assert not nbd.answers(export)
    assert export_records(c) == [completed.id]
    retried = fails(create, client, exported.id, NBD, request_id)
    assert retried.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(retried)[0].reason == "ATTACHMENT_RELEASED"

    time.sleep(timeout)
    assert get(client, completed.id).status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED
    assert client.get(in_time.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    assert nbd.answers(completed.connection_info.data)
    detach(client, completed.id)
