"""The fault matrix: each workflow, with one process killed (like kill -9)
at each step that matters, then restarted. Afterwards every resource is in
a stable status within a bounded time, no task has run twice with a
visible effect (every file on disk has exactly one row, quota usage equals
what exists), and data written before the fault reads back intact.

One row per (workflow, process, step); the step is a named failpoint
(ember/failpoints.py) or, for nats-server, a kill right after the call."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from typing import Callable

import grpc
import pytest

from backup.repository import manifests
from ember import launcher
from ember.v1 import (
    attachment_pb2, backup_pb2, quota_pb2, snapshot_pb2, status_pb2, status_pb2_grpc, volume_pb2,
)
from tests.harness import Cluster
from tests.settling import SETTLE, list_all, settled, wait_for

MIB = 1024 * 1024
MODULES = ("scheduler", "volume", "backup", "api_gateway")
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])
class Matrix:
    """An Ember whose processes the rows kill and restart; the gateway keeps
    its port so that clients reconnect to the restarted one."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.gateway_listen = f"127.0.0.1:{launcher.free_port()}"
        self.nats_port = launcher.free_port()
        self.generation = 0
        self.projects: list[str] = []

    def start(self) -> None:
        self.cluster.start_nats(self.nats_port)
        for module in MODULES:
            self.replace(module)

    def replace(self, module: str, **env: str) -> launcher.Process:
        """Stops the running instance of `module` and starts another with `env`."""
        for proc in self.cluster.processes:
            if proc.name.partition("#")[0] == module and proc.running:
                proc.stop()
        self.generation += 1
        gateway = module == "api_gateway"
        if gateway:
            env.setdefault("EMBER_LISTEN", self.gateway_listen)
        started = self.cluster.start(module, name=f"{module}#{self.generation}", **env)
        if not gateway and any(p.name.startswith("api_gateway") and p.running for p in self.cluster.processes):
            self.until_routed(started.address)
        return started

    def until_routed(self, address: str, patience: float = 15.0) -> None:
        """The gateway learns of a new instance from the registry a moment
        after it starts; a row's call made before then would find none."""
        admin = self.cluster.client("matrix-admin", admin=True)
        get_status = status_pb2_grpc.StatusServiceStub(admin.channel).GetStatus
        deadline = time.monotonic() + patience
        try:
            while True:
                try:
                    listed = admin.call(get_status, status_pb2.GetStatusRequest()).instances
                    if address in {instance.address for instance in listed}:
                        return
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, f"the gateway did not learn of {address} in {patience:g} s"
                time.sleep(0.05)
        finally:
            admin.close()

    def restart_nats(self) -> None:
        self.cluster.nats.kill()
        self.cluster.start_nats(self.nats_port)

    def client(self, project: str):
        self.projects.append(project)
        return self.cluster.client(project)

    @property
    def pool(self):
        return self.cluster.root / "volumes" / "file" / "default"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, db_backend):
    root = tmp_path_factory.mktemp("faults")
    cluster = Cluster(root, db_backend, EMBER_TASK_ACK_WAIT="2", EMBER_OUTBOX_RETRY_AFTER="2",
                      EMBER_BACKUP_REPOSITORY=str(root / "repository"))
    m = Matrix(cluster)
    try:
        m.start()
        yield m
    finally:
        cluster.stop()


def local_path(client, volume_id: str):
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id="writer", connector=LOCAL), timeout=60)
    return attachment.connection_info.data["device_path"], attachment.id


def write_data(client, volume_id: str) -> bytes:
    """Writes through a local attachment, then detaches."""
    data = os.urandom(2 * MIB)
    path, attachment_id = local_path(client, volume_id)
    with open(path, "r+b") as f:
        f.write(data)
        os.fsync(f.fileno())
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id),
                timeout=60)
    return data


def starts_with(path, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(data)) == data


def attempt(call, *args, **kwargs):
    """The call's answer, or None when the fault cut it off."""
    try:
        return call(*args, **kwargs)
    except grpc.RpcError as error:
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error
        return None


@dataclasses.dataclass
class Row:
    workflow: str
    process: str  # the module killed, or "nats-server"
    step: str  # the failpoint, or "after the call" for nats-server
    prepare: Callable | None
    act: Callable
    check: Callable


# Each prepare(m, client) returns a context dict; act(m, client, ctx) runs the
# workflow call that the fault cuts; check(m, client, ctx) runs after recovery.

def no_prepare(m, client):
    return {}


def available_volume(m, client):
    volume = client.create_available(1)
    return {"volume": volume, "data": write_data(client, volume.id)}


def act_create(m, client, ctx):
    ctx["request_id"] = str(uuid.uuid4())
    attempt(client.call, client.volumes.CreateVolume,
            volume_pb2.CreateVolumeRequest(size_gb=1, name="made", request_id=ctx["request_id"]), timeout=30)


def check_create(m, client, ctx):
    again = client.call(client.volumes.CreateVolume, volume_pb2.CreateVolumeRequest(
        size_gb=1, name="made", request_id=ctx["request_id"]), timeout=30)
    done = client.wait(again, timeout=SETTLE)
    assert done.done and not done.HasField("error"), done
    volumes = list_all(client)["volume"]
    assert [v.name for v in volumes] == ["made"], "exactly one volume for one create"
    assert volumes[0].status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert (m.pool / f"volume-{volumes[0].id}").stat().st_size == 1024**3


def act_delete(m, client, ctx):
    attempt(client.delete, ctx["volume"].id)


def check_delete(m, client, ctx):
    assert list_all(client)["volume"] == []
    assert not (m.pool / f"volume-{ctx['volume'].id}").exists()


def act_attach(m, client, ctx):
    reserved = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=ctx["volume"].id, instance_id="vm"))
    ctx["attachment"] = reserved.id
    attempt(client.call, client.volumes.UpdateAttachment, attachment_pb2.UpdateAttachmentRequest(
        attachment_id=reserved.id, connector=LOCAL), timeout=60)


def check_attach(m, client, ctx):
    """The cut UpdateAttachment is given back when its host restarts, as a
    failed export is: nothing holds the volume, and attaching again works."""
    gone = wait_for(lambda: client.call(client.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest(
        volume_id=ctx["volume"].id)).attachments, lambda found: not found)
    assert gone == []
    assert client.get(ctx["volume"].id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    path, attachment_id = local_path(client, ctx["volume"].id)
    done = client.call(client.volumes.CompleteAttachment,
                       attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment_id))
    assert done.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED
    assert starts_with(path, ctx["data"])
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id),
                timeout=60)


def attached_volume(m, client):
    ctx = available_volume(m, client)
    path, ctx["attachment"] = local_path(client, ctx["volume"].id)
    client.call(client.volumes.CompleteAttachment,
                attachment_pb2.CompleteAttachmentRequest(attachment_id=ctx["attachment"]))
    return ctx


def act_detach(m, client, ctx):
    attempt(client.call, client.volumes.DeleteAttachment,
            attachment_pb2.DeleteAttachmentRequest(attachment_id=ctx["attachment"]), timeout=60)


def check_detach(m, client, ctx):
    gone = wait_for(lambda: client.call(client.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest(
        volume_id=ctx["volume"].id)).attachments, lambda found: not found)
    assert gone == []
    assert client.get(ctx["volume"].id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert starts_with(m.pool / f"volume-{ctx['volume'].id}", ctx["data"])


def act_snapshot(m, client, ctx):
    attempt(client.call, client.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
        volume_id=ctx["volume"].id, name="snap"))


def check_snapshot(m, client, ctx):
    (snapshot,) = list_all(client)["snapshot"]
    assert snapshot.status == snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE
    assert starts_with(m.pool / f"snapshot-{snapshot.id}", ctx["data"])


def act_backup(m, client, ctx):
    attempt(client.call, client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=ctx["volume"].id))


def check_backup(m, client, ctx):
    backups = list_all(client)["backup"]
    assert [b.status for b in backups] == [backup_pb2.BACKUP_STATUS_AVAILABLE], backups
    assert client.get(ctx["volume"].id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    ctx["backup"] = backups[0]
    check_restored(m, client, ctx, restore_new(client, backups[0].id))


def restore_new(client, backup_id: str) -> volume_pb2.Volume:
    op = client.call(client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(backup_id=backup_id))
    return client.done(op, volume_pb2.Volume())


def check_restored(m, client, ctx, volume) -> None:
    assert volume.status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert starts_with(m.pool / f"volume-{volume.id}", ctx["data"])


def backed_up_volume(m, client):
    ctx = available_volume(m, client)
    op = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=ctx["volume"].id))
    ctx["backup"] = client.done(op, backup_pb2.Backup())
    return ctx


def act_restore(m, client, ctx):
    attempt(client.call, client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(backup_id=ctx["backup"].id))


def check_restore(m, client, ctx):
    restored = [v for v in list_all(client)["volume"] if v.id != ctx["volume"].id]
    assert len(restored) == 1, restored
    check_restored(m, client, ctx, restored[0])
    assert backup_status(client, ctx["backup"].id) == backup_pb2.BACKUP_STATUS_AVAILABLE


def backup_status(client, backup_id: str) -> int:
    return client.call(client.backups.GetBackup, backup_pb2.GetBackupRequest(id=backup_id)).status


ROWS = [
    Row("create", "api_gateway", "gateway.after_forward", no_prepare, act_create, check_create),
    Row("create", "volume", "volume.api.before_publish", no_prepare, act_create, check_create),
    Row("create", "scheduler", "scheduler.before_publish", no_prepare, act_create, check_create),
    Row("create", "scheduler", "scheduler.before_ack", no_prepare, act_create, check_create),
    Row("create", "volume", "volume.driver.create", no_prepare, act_create, check_create),
    Row("create", "volume", "volume.create.after_driver", no_prepare, act_create, check_create),
    Row("create", "nats-server", "after the call", no_prepare, act_create, check_create),
    Row("delete", "volume", "volume.delete.after_driver", available_volume, act_delete, check_delete),
    Row("attach", "volume", "volume.attach.before_export", available_volume, act_attach, check_attach),
    Row("attach", "volume", "volume.attach.after_export", available_volume, act_attach, check_attach),
    Row("detach", "volume", "volume.detach.after_unexport", attached_volume, act_detach, check_detach),
    Row("snapshot", "volume", "volume.snapshot.after_driver", available_volume, act_snapshot, check_snapshot),
    Row("backup", "backup", "backup.before_manifest", available_volume, act_backup, check_backup),
    Row("backup", "backup", "backup.after_manifest", available_volume, act_backup, check_backup),
    Row("backup", "nats-server", "after the call", available_volume, act_backup, check_backup),
    Row("restore", "backup", "backup.restore.after_write", backed_up_volume, act_restore, check_restore),
]


def assert_consistent(m: Matrix, client) -> None:
    """No double effects anywhere: every volume and snapshot file on disk has
    its row, every manifest its backup, and quota usage is what exists."""
    found = list_all(client)
    usage = client.call(client.quotas.GetQuota, quota_pb2.GetQuotaRequest()).usage
    assert usage["volumes"] == len(found["volume"])
    assert usage["gigabytes"] == sum(v.size_gb for v in found["volume"]) + sum(s.size_gb for s in found["snapshot"])
    assert usage["snapshots"] == len(found["snapshot"])
    assert usage["backups"] == len(found["backup"])
    everything = {"volume": set(), "snapshot": set(), "backup": set()}
    for project in dict.fromkeys(m.projects):
        for kind, rows in list_all(m.cluster.client(project)).items():
            everything[kind].update(r.id for r in rows)
    files = [p.name.partition("-") for p in m.pool.iterdir() if not p.name.startswith(".")]
    assert {i for kind, _, i in files if kind == "volume"} == everything["volume"]
    assert {i for kind, _, i in files if kind == "snapshot"} == everything["snapshot"]
    assert set(manifests.backup_ids(m.cluster.root / "repository")) <= everything["backup"]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.workflow}-{r.process}-{r.step}" for r in ROWS])
def test_a_process_killed_mid_workflow_leaves_nothing_stuck_lost_or_doubled(matrix, row):
    client = matrix.client(f"fault-{uuid.uuid4().hex[:8]}")
    ctx = row.prepare(matrix, client)
    if row.process == "nats-server":
        row.act(matrix, client, ctx)
        matrix.restart_nats()
    else:
        dying = matrix.replace(row.process, EMBER_FAILPOINTS=f"{row.step}=exit")
        row.act(matrix, client, ctx)
        assert dying.popen.wait(timeout=60) == 17, f"{row.step} was not reached"
        matrix.replace(row.process)
    settled(client)
    row.check(matrix, client, ctx)
    settled(client)
    assert_consistent(matrix, client)
