"""Backups through the gateway with a real data path: data written over an
NBD attachment, backed up by a backup service on another host (which reads
the volume over NBD), restored to new and existing volumes and compared
byte for byte; incrementals, deletes, corruption, records moved between
deployments, in-use volumes, quotas, progress and a killed backup service."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import uuid

import grpc
import pytest

from backup.nbd_client import NbdClient
from backup.repository import Repository, locks, packs
from backup.repository.format import CHUNK_SIZE
from ember import nbd_psk
from ember.v1 import attachment_pb2, backup_pb2, common_pb2, volume_pb2
from tests import nbd
from tests.harness import Cluster
from tests.integration.errors_util import details
from tests.integration.live_util import events_of

MIB = 1024 * 1024
GIB = 1024 * MIB
CONNECTOR = attachment_pb2.Connector(host="compute-1", ip="127.0.0.1", transports=["nbd"])


def start(c: Cluster, **backup_env: str) -> Cluster:
    c.start_nats()
    c.start("scheduler")
    c.start("volume")
    # Another host than the volumes': it reads and writes them over NBD.
    c.start("backup", EMBER_HOST="backup-1", **backup_env)
    c.start("api_gateway")
    return c


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, db_backend):
    nbd.require_tools()
    root = tmp_path_factory.mktemp("backups")
    c = Cluster(root, db_backend, EMBER_BACKUP_REPOSITORY=str(root / "repository"))
    try:
        yield start(c)
    finally:
        c.stop()


def volume_file(cluster, volume_id: str):
    return cluster.root / "volumes" / "file" / "default" / f"volume-{volume_id}"


def digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(16 * MIB):
            h.update(block)
    return h.hexdigest()


def write_through_attachment(client, volume_id: str, writes: list[tuple[int, bytes]]) -> None:
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id="writer", connector=CONNECTOR), timeout=60)
    client.call(client.volumes.CompleteAttachment, attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id))
    export = attachment.connection_info.data
    with NbdClient(export["uri"], psk=nbd_psk.of(export)) as device:
        for offset, data in writes:
            device.pwrite(data, offset)
        device.flush()
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id),
                timeout=60)


def back_up(client, volume_id: str, **fields) -> backup_pb2.Backup:
    op = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume_id, **fields))
    return client.done(op, backup_pb2.Backup())


def restore(client, backup_id: str, volume_id: str = "", timeout: float = 60):
    op = client.call(client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(backup_id=backup_id,
                                                                                  volume_id=volume_id))
    return client.wait(op, timeout=timeout)


def restored(client, backup_id: str, volume_id: str = "") -> volume_pb2.Volume:
    op = restore(client, backup_id, volume_id)
    assert op.done and not op.HasField("error"), op
    volume = volume_pb2.Volume()
    op.response.Unpack(volume)
    return volume


def backup_status(client, backup_id: str) -> int:
    return client.call(client.backups.GetBackup, backup_pb2.GetBackupRequest(id=backup_id)).status


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


TEXT = b"".join(b"%08d the quick brown fox backs up the lazy dog\n" % i for i in range(200_000))[:8 * MIB]


def test_full_and_incremental_restore_byte_for_byte_and_survive_deleting_the_full(cluster):
    client = cluster.client("round-trip")
    source = client.create_available(1, metadata={"app": "db"})
    write_through_attachment(client, source.id, [(0, os.urandom(8 * MIB)), (256 * MIB, TEXT),
                                                 (512 * MIB, bytes(8 * MIB))])
    full = back_up(client, source.id, name="full")
    assert full.status == backup_pb2.BACKUP_STATUS_AVAILABLE and not full.incremental
    assert full.chunk_count == 16 * MIB // CHUNK_SIZE, "written zeros are not stored"
    assert 8 * MIB < full.stored_bytes < 10 * MIB, "random stored raw, text compressed"
    assert client.get(source.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE

    first = restored(client, full.id)
    assert first.status == volume_pb2.VOLUME_STATUS_AVAILABLE and first.size_gb == 1
    assert dict(first.metadata) == {"app": "db"}, "the volume's metadata is restored too"
    assert digest(volume_file(cluster, first.id)) == digest(volume_file(cluster, source.id))
    assert os.stat(volume_file(cluster, first.id)).st_blocks * 512 < 20 * MIB, "zeros restore as holes"

    rng = random.Random(11)
    changes = [(rng.randrange(0, GIB // 4096 - 8) * 4096, os.urandom(32 * 1024)) for _ in range(320)]
    write_through_attachment(client, source.id, changes)
    incremental = back_up(client, source.id, name="incremental", incremental=True)
    assert incremental.incremental and incremental.parent_id == full.id
    assert incremental.stored_bytes <= 2 * len(changes) * CHUNK_SIZE, "only changed chunks are stored"
    second = restored(client, incremental.id)
    assert digest(volume_file(cluster, second.id)) == digest(volume_file(cluster, source.id))

    client.done(client.call(client.backups.DeleteBackup, backup_pb2.DeleteBackupRequest(id=full.id)),
                backup_pb2.Backup())
    gone = fails(client.call, client.backups.GetBackup, backup_pb2.GetBackupRequest(id=full.id))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    onto_first = restored(client, incremental.id, volume_id=first.id)
    assert onto_first.id == first.id
    assert digest(volume_file(cluster, first.id)) == digest(volume_file(cluster, source.id))
    assert backup_status(client, incremental.id) == backup_pb2.BACKUP_STATUS_AVAILABLE


def corrupt_a_chunk(cluster, backup_id: str) -> str:
    repo = Repository(cluster.root / "repository")
    chunk = repo.read_manifest(backup_id).chunks[3][1]
    repo.refresh_index()
    location = repo.index[chunk]
    with open(packs.pack_path(repo.root, location.pack, ".pack"), "r+b") as f:
        f.seek(location.offset + 17)
        f.write(bytes(b ^ 0x5A for b in f.read(8)))
        f.seek(location.offset + 17)
    return chunk.hex()


def test_a_corrupt_chunk_fails_the_restore_with_data_loss_and_changes_nothing_else(cluster):
    client = cluster.client("corruption")
    source = client.create_available(1)
    write_through_attachment(client, source.id, [(0, os.urandom(2 * MIB))])
    backup = back_up(client, source.id)
    chunk = corrupt_a_chunk(cluster, backup.id)

    failed = restore(client, backup.id)
    assert failed.done and failed.error.code == grpc.StatusCode.DATA_LOSS.value[0]
    assert chunk in failed.error.message
    target = [v for v in client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
              if v.id != source.id]
    assert [v.status for v in target] == [volume_pb2.VOLUME_STATUS_ERROR_RESTORING]
    assert chunk in target[0].status_detail
    assert backup_status(client, backup.id) == backup_pb2.BACKUP_STATUS_AVAILABLE
    assert client.get(source.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE

    verified = client.wait(client.call(client.backups.VerifyBackup, backup_pb2.VerifyBackupRequest(id=backup.id)))
    assert verified.error.code == grpc.StatusCode.DATA_LOSS.value[0] and chunk in verified.error.message
    assert backup_status(client, backup.id) == backup_pb2.BACKUP_STATUS_AVAILABLE


def test_verify_checks_a_good_backup_without_restoring_it(cluster):
    client = cluster.client("verify")
    source = client.create_available(1)
    write_through_attachment(client, source.id, [(MIB, os.urandom(3 * MIB))])
    backup = back_up(client, source.id)
    result = client.done(client.call(client.backups.VerifyBackup, backup_pb2.VerifyBackupRequest(id=backup.id)),
                         backup_pb2.BackupVerification())
    assert (result.backup_id, result.chunks_checked, result.bytes_checked) == (backup.id, 96, 3 * MIB)
    assert len(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes) == 1


def test_a_record_exported_here_restores_in_another_deployment_sharing_the_repository(cluster, tmp_path, db_backend):
    client, admin = cluster.client("exporter"), cluster.client("exporter", admin=True)
    source = client.create_available(1)
    write_through_attachment(client, source.id, [(4 * MIB, os.urandom(MIB)), (100 * MIB, TEXT[:MIB])])
    backup = back_up(client, source.id, name="moving", metadata={"purpose": "dr"})
    denied = fails(client.call, client.backups.ExportBackupRecord, backup_pb2.ExportBackupRecordRequest(id=backup.id))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    record = admin.call(admin.backups.ExportBackupRecord, backup_pb2.ExportBackupRecordRequest(id=backup.id))

    other = start(Cluster(tmp_path / "second", db_backend, EMBER_BACKUP_REPOSITORY=str(cluster.root / "repository")))
    try:
        there = other.client("exporter", admin=True)
        imported = there.call(there.backups.ImportBackupRecord, backup_pb2.ImportBackupRecordRequest(
            backup_service=record.backup_service, backup_url=record.backup_url))
        assert (imported.id, imported.name, imported.status) == (backup.id, "moving", backup_pb2.BACKUP_STATUS_AVAILABLE)
        assert dict(imported.metadata) == {"purpose": "dr"} and imported.chunk_count == backup.chunk_count
        again = fails(there.call, there.backups.ImportBackupRecord, backup_pb2.ImportBackupRecordRequest(
            backup_service=record.backup_service, backup_url=record.backup_url))
        assert again.code() == grpc.StatusCode.ALREADY_EXISTS
        volume = restored(there, imported.id)
        assert digest(volume_file(other, volume.id)) == digest(volume_file(cluster, source.id))

        garbage = fails(there.call, there.backups.ImportBackupRecord,
                        backup_pb2.ImportBackupRecordRequest(backup_url="not-a-record"))
        assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT
        forged = json.loads(base64.urlsafe_b64decode(record.backup_url))
        forged["id"] = str(uuid.uuid4())
        missing = fails(there.call, there.backups.ImportBackupRecord, backup_pb2.ImportBackupRecordRequest(
            backup_url=base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()))
        assert missing.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details(missing)[0].reason == "MANIFEST_MISSING"
    finally:
        other.stop()


def test_an_in_use_volume_needs_force_and_stays_in_use(cluster):
    client = cluster.client("in-use")
    source = client.create_available(1)
    data = os.urandom(2 * MIB)
    write_through_attachment(client, source.id, [(0, data)])
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=source.id, instance_id="vm", connector=CONNECTOR), timeout=60)
    client.call(client.volumes.CompleteAttachment, attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id))
    refused = fails(client.call, client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=source.id))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION and "force" in refused.details()
    backup = back_up(client, source.id, force=True)
    assert client.get(source.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    assert not list((cluster.root / "volumes").rglob("*tmp-backup-*")), "the temporary snapshot is gone"
    copy = restored(client, backup.id)
    with open(volume_file(cluster, copy.id), "rb") as f:
        assert f.read(len(data)) == data
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id),
                timeout=60)


def test_requests_that_cannot_work_say_why(cluster):
    client = cluster.client("bad-requests")
    small = client.create_available(1)
    missing = fails(client.call, client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=str(uuid.uuid4())))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    no_parent = fails(client.call, client.backups.CreateBackup,
                      backup_pb2.CreateBackupRequest(volume_id=small.id, incremental=True))
    assert no_parent.code() == grpc.StatusCode.FAILED_PRECONDITION and details(no_parent)[0].reason == "NO_PARENT_BACKUP"
    bad_id = fails(client.call, client.backups.GetBackup, backup_pb2.GetBackupRequest(id="nope"))
    assert bad_id.code() == grpc.StatusCode.INVALID_ARGUMENT

    big = client.create_available(2)
    backup = back_up(client, big.id)
    too_small = fails(restore, client, backup.id, small.id)
    assert too_small.code() == grpc.StatusCode.INVALID_ARGUMENT and "2 GiB" in too_small.details()
    mixed = fails(client.call, client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(
        backup_id=backup.id, volume_id=small.id, name="x"))
    assert mixed.code() == grpc.StatusCode.INVALID_ARGUMENT
    others = cluster.client("someone-else")
    hidden = fails(others.call, others.backups.GetBackup, backup_pb2.GetBackupRequest(id=backup.id))
    assert hidden.code() == grpc.StatusCode.NOT_FOUND
    listed = client.call(client.backups.ListBackups, backup_pb2.ListBackupsRequest(volume_id=big.id))
    assert [b.id for b in listed.backups] == [backup.id]


def test_backup_quotas_count_backups_and_their_gigabytes(cluster):
    client = cluster.client("backup-quota")
    cluster.set_quota("backup-quota", backups=1)
    volume = client.create_available(1)
    first = back_up(client, volume.id)
    over = fails(client.call, client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume.id))
    assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and details(over)[0].metadata["quota"] == "backups"
    client.done(client.call(client.backups.DeleteBackup, backup_pb2.DeleteBackupRequest(id=first.id)),
                backup_pb2.Backup())
    cluster.set_quota("backup-quota", backups=5, backup_gigabytes=1)
    back_up(client, volume.id)
    over = fails(client.call, client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume.id))
    assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(over)[0].metadata["quota"] == "backup_gigabytes" and "backup GiB" in over.details()


def test_progress_events_carry_bytes_and_watch_ends_at_a_stable_status(cluster):
    client = cluster.client("progress")
    volume = client.create_available(1)
    write_through_attachment(client, volume.id, [(0, os.urandom(40 * MIB))])
    backup = back_up(client, volume.id)
    progress = [e for e in events_of(cluster, "backups", backup.id) if e["status"] == "progress"]
    assert progress and all(e["bytes_total"] == 40 * MIB for e in progress)
    assert [e["bytes_done"] for e in progress] == sorted(e["bytes_done"] for e in progress)
    watched = list(client.backups.WatchBackup(backup_pb2.WatchBackupRequest(id=backup.id), metadata=client.metadata,
                                              timeout=30))
    assert [m.backup.status for m in watched] == [backup_pb2.BACKUP_STATUS_AVAILABLE]


def test_a_backup_service_killed_mid_backup_finishes_it_after_a_restart(cluster):
    client = cluster.client("killed")
    volume = client.create_available(1)
    write_through_attachment(client, volume.id, [(0, os.urandom(8 * MIB))])
    running = [p for p in cluster.processes if p.name == "backup" and p.running]
    for proc in running:
        proc.stop()
    doomed = cluster.start("backup", name="backup-doomed", EMBER_HOST="backup-1",
                           EMBER_FAILPOINTS="backup.before_manifest=exit")
    op = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume.id))
    assert doomed.popen.wait(timeout=60) == 17, "the failpoint should have killed the backup service"
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_BACKING_UP
    meta = common_pb2.OperationMetadata()
    op.metadata.Unpack(meta)
    backup_id = meta.target

    # The watch needs a backup service to serve it, and that service takes
    # the task again: the repository held exclusively, as garbage collection
    # holds it, makes the task wait until the watch has answered once, which
    # it does when it already follows the backup's events.
    held = locks.Lock(cluster.root / "repository", "test-watch-first", locks.EXCLUSIVE)
    try:
        cluster.start("backup", EMBER_HOST="backup-1")
        watch = client.backups.WatchBackup(backup_pb2.WatchBackupRequest(id=backup_id), metadata=client.metadata,
                                           timeout=60)
        got = [next(watch)]
    finally:
        held.release()
    got.extend(watch)
    done = client.wait(op, timeout=60)
    assert done.done and not done.HasField("error"), done
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert got[0].backup.status == backup_pb2.BACKUP_STATUS_CREATING
    assert got[-1].backup.status == backup_pb2.BACKUP_STATUS_AVAILABLE
    assert any(m.bytes_total == 8 * MIB for m in got), "the watch shows the bytes of the redelivered backup"
    copy = restored(client, backup_id)
    assert digest(volume_file(cluster, copy.id)) == digest(volume_file(cluster, volume.id))


def test_the_cli_backs_up_verifies_and_restores(cluster):
    client = cluster.client("cli")
    volume = client.create_available(1)
    write_through_attachment(client, volume.id, [(0, os.urandom(MIB))])
    env = {**os.environ, "EMBER_URL": cluster.gateway, "EMBER_TOKEN": cluster.token("cli")}

    def ember(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "cli", "backup", *args], capture_output=True, text=True,
                                env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    made = json.loads(ember("create", "--volume", volume.id, "--name", "by-cli", "--wait", "--json"))
    assert made["status"] == "BACKUP_STATUS_AVAILABLE" and made["name"] == "by-cli"
    assert "by-cli" in ember("list")
    assert f"backup {made['id']} is intact: 32 chunks" in ember("verify", made["id"], "--wait")
    assert "restored onto volume" in ember("restore", made["id"], "--wait")
    assert f"{made['id']} deleted" in ember("delete", made["id"], "--wait")
