"""A backup host lost mid-backup: backup-1 is killed (SIGKILL) while it
backs up a 1 GiB volume; backup-2, on another host with the same shared
repository, takes over the redelivered task; the backup ends `available`
and verifies, and the volume returns to the status it had."""

from __future__ import annotations

import time
import uuid

from google.longrunning import operations_pb2

from ember.v1 import backup_pb2, common_pb2, volume_pb2
from tests.multihost import checks

GIB = 1024 ** 3
PATIENCE = 120.0


def progress(client, op: operations_pb2.Operation) -> tuple[bool, int]:
    op = client.call(client.operations.GetOperation, operations_pb2.GetOperationRequest(name=op.name))
    meta = common_pb2.OperationMetadata()
    op.metadata.Unpack(meta)
    return op.done, meta.progress_percent


def test_a_backup_host_killed_mid_backup_is_relieved_by_the_other(topology, compute):
    client = checks.client(topology, compute, "backup-host-lost")
    volume = client.create_available(1, name="big", availability_zone="east")
    data = checks.write_from_compute(topology, client, volume.id, size=GIB)
    # Only backup-1 takes tasks until it has this one.
    topology.process("backup-2", "backup").stop()
    try:
        op = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(
            volume_id=volume.id, name="relieved", request_id=str(uuid.uuid4())))
        done, percent = checks.wait_for(lambda: progress(client, op), lambda p: p[0] or p[1] > 0, PATIENCE,
                                        "backup-1 made no progress")
        assert not done, "the backup finished before backup-1 could be killed"
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_BACKING_UP
        topology.start_service("backup-2", "backup")
        still_running, _ = progress(client, op)
        assert not still_running, "the backup finished before backup-1 could be killed"
        topology.process("backup-1", "backup").kill()
        killed_at = time.monotonic()

        backup = client.done(client.wait(op, timeout=PATIENCE), backup_pb2.Backup())
        took = time.monotonic() - killed_at
        assert backup.status == backup_pb2.BACKUP_STATUS_AVAILABLE and backup.data_bytes >= GIB, backup
        # The task's log line follows its ack, which follows the answer.
        checks.wait_for(lambda: topology.process("backup-2", "backup").log(),
                        lambda log: "ember.tasks.backup.backup done" in log, 30,
                        f"backup-2 did not log the backup it finished {took:.0f}s after the kill")
        verify = client.wait(client.call(client.backups.VerifyBackup,
                                          backup_pb2.VerifyBackupRequest(id=backup.id)), timeout=PATIENCE)
        assert verify.done and not verify.HasField("error"), verify
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    finally:
        for host in ("backup-1", "backup-2"):
            if not topology.process(host, "backup").running:
                topology.start_service(host, "backup")

    restored = client.done(client.call(client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(
        backup_id=backup.id, name="restored", availability_zone="west")), volume_pb2.Volume())
    checks.settled(client, timeout=PATIENCE)
    assert checks.starts_with(checks.volume_file(topology, client.get(restored.id)), data)
    assert checks.starts_with(checks.volume_file(topology, volume), data)
    checks.assert_consistent(topology, compute)
