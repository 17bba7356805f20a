"""SIGTERM drains a service: its health turns NOT_SERVING and it leaves the
registry first, calls in flight finish, its consumers stop fetching, and a
task it was running is finished or left unacked for another instance."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from google.longrunning import operations_pb2

from ember.v1 import attachment_pb2, backup_pb2, common_pb2, volume_pb2
from tests import mtls
from tests.harness import Cluster

MIB = 1024 * 1024


def terminate(proc) -> int:
    proc.popen.send_signal(signal.SIGTERM)
    return proc.popen.wait(timeout=30)


def progress(client, op, timeout: float = 30) -> int:
    """The operation's progress once it has started moving."""
    deadline = time.monotonic() + timeout
    metadata = common_pb2.OperationMetadata()
    while time.monotonic() < deadline:
        op = client.call(client.operations.GetOperation, operations_pb2.GetOperationRequest(name=op.name))
        op.metadata.Unpack(metadata)
        if metadata.progress_percent > 0 or op.done:
            break
        time.sleep(0.02)
    return metadata.progress_percent


def test_health_turns_not_serving_before_the_port_closes(fresh_cluster: Cluster):
    c = fresh_cluster
    c.start_all()
    volume = next(p for p in c.processes if p.name == "volume")
    seen = []
    with mtls.channel(c.data_dir, volume.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        seen.append(next(watch).status)
        volume.popen.send_signal(signal.SIGTERM)
        try:
            for answer in watch:
                seen.append(answer.status)
        except grpc.RpcError:
            pass
    assert volume.popen.wait(timeout=30) == 0, volume.log()[-2000:]
    assert seen[:2] == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]
    assert "volume stopping" in volume.log()


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.01)


def test_clients_see_no_error_while_one_of_two_instances_stops(fresh_cluster: Cluster):
    """The instance leaves the registry before it stops listening, so the
    gateway sends new calls elsewhere while the calls it holds finish."""
    c = fresh_cluster
    c.start_two_hosts()
    client = c.client()
    volume = client.create_available(1)
    other = next(p for p in c.processes if p.name == "volume-b")
    errors: list[grpc.RpcError] = []
    # (client thread, sent, answered) of every call, both instances taking
    # turns at them until volume-b goes.
    answered: list[tuple[int, float, float]] = []
    stop = threading.Event()

    def hammer(me: int):
        calls = (lambda: client.get(volume.id),
                 lambda: client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=5)))
        while not stop.is_set():
            for call in calls:
                sent = time.monotonic()
                try:
                    call()
                except grpc.RpcError as error:
                    errors.append(error)
                    continue
                answered.append((me, sent, time.monotonic()))

    def every_thread_answered_a_call_sent_after(moment: float) -> bool:
        return {me for me, sent, _ in answered if sent > moment} == set(range(len(threads)))

    threads = [threading.Thread(target=hammer, args=(me,)) for me in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: every_thread_answered_a_call_sent_after(0), "every client's first answer")
        signalled = time.monotonic()
        code = terminate(other)
        gone = time.monotonic()
        wait_until(lambda: every_thread_answered_a_call_sent_after(gone),
                   "every client answered by the instance that stayed")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call never came back"
    assert code == 0, other.log()[-2000:]
    assert errors == [], [e.details() for e in errors[:3]]
    assert any(sent < signalled < back for _, sent, back in answered), "no call was in flight at SIGTERM"
    assert any(signalled < sent < gone for _, sent, _ in answered), "no call was sent while volume-b stopped"


def test_a_backup_running_at_sigterm_is_finished_or_handed_on(fresh_cluster: Cluster):
    c = fresh_cluster
    c.start_all()
    client = c.client()
    volume = client.create_available(1)
    data = os.urandom(256 * MIB)
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="writer", connector=attachment_pb2.Connector(host="host-a",
                                                                                        transports=["local"])))
    with open(attachment.connection_info.data["device_path"], "r+b") as f:
        f.write(data)
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id))
    backup_service = next(p for p in c.processes if p.name == "backup")
    op = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume.id))
    assert 0 < progress(client, op) < 100, "SIGTERM must come while the backup runs"
    assert terminate(backup_service) == 0, backup_service.log()[-2000:]
    c.start("backup", name="backup-2")
    backup = client.done(client.wait(op, timeout=60), backup_pb2.Backup())
    assert backup.status == backup_pb2.BACKUP_STATUS_AVAILABLE
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    restored = client.done(client.call(client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(
        backup_id=backup.id)), volume_pb2.Volume())
    with open(c.root / "volumes" / "file" / "default" / f"volume-{restored.id}", "rb") as f:
        assert f.read(len(data)) == data
