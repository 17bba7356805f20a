"""The four workflows across hosts, all from compute-1 through the gateways:
a volume made in zone west lands on store-2; a guest on compute-1 writes to
it over NBD across the bridge; it is snapshotted and backed up by a backup
host reading store-2 over NBD; the backup is restored into zone east (on
store-1), where a second guest reads back what the first one wrote."""

from __future__ import annotations

import hashlib
import os
import re
import sys

from ember.v1 import attachment_pb2, backup_pb2, snapshot_pb2, volume_pb2
from tests.multihost import checks
from tests.multihost.topology import BACKUP, Topology

MIB = 1024 * 1024
WRITTEN_MIB = 8
BOOT_TIMEOUT = 300


def instance_run(topology: Topology, guest_image, project: str, volume_id: str, instance: str, command: str):
    """`ember instance run` on compute-1, with both gateways in EMBER_URL."""
    env = {**os.environ, "EMBER_URL": ",".join(topology.gateways), "EMBER_TOKEN": topology.token(project)}
    return topology["compute-1"].run(
        [sys.executable, "-m", "cli", "instance", "run", "--volume", volume_id, "--instance", instance,
         "--transport", "nbd", "--host", "compute-1", "--data-dir", str(guest_image), "--command", command],
        capture_output=True, text=True, env=env, timeout=BOOT_TIMEOUT)


def tasks_done_on_backup_hosts(topology: Topology) -> int:
    return sum(topology.process(host, "backup").log().count("task ember.tasks.backup.") for host in BACKUP)


def sha256_in(output: str) -> str:
    found = re.findall(r"\b[0-9a-f]{64}\b", output)
    assert found, output
    return found[-1]


def test_create_attach_snapshot_back_up_and_restore_across_hosts(topology, compute, guest_image):
    project = "across-hosts"
    client = checks.client(topology, compute, project)
    volume = client.create_available(1, name="from-west", availability_zone="west")
    assert volume.host.startswith("store-2@") and volume.availability_zone == "west", volume

    # The guest fills the start of its disk with data of its own making and
    # prints the digest of what it wrote.
    write = (f'dd if=/dev/urandom of="$EMBER_DISK" bs=1M count={WRITTEN_MIB} conv=fsync 2>/dev/null; '
             f'dd if="$EMBER_DISK" bs=1M count={WRITTEN_MIB} 2>/dev/null | sha256sum')
    wrote = instance_run(topology, guest_image, project, volume.id, "vm-writer", write)
    assert wrote.returncode == 0, wrote.stderr
    assert f"rw over nbd (nbds://{topology['store-2'].address}:" in wrote.stderr, wrote.stderr
    written = sha256_in(wrote.stdout)
    on_store = checks.volume_file(topology, volume).read_bytes()[: WRITTEN_MIB * MIB]
    assert hashlib.sha256(on_store).hexdigest() == written, "the guest's writes did not reach store-2"
    after = client.get(volume.id)
    assert after.status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert not client.call(client.volumes.ListAttachments,
                           attachment_pb2.ListAttachmentsRequest(volume_id=volume.id)).attachments

    snapshot = client.done(client.call(client.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
        volume_id=volume.id, name="before-backup")), snapshot_pb2.Snapshot())
    assert snapshot.status == snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE

    before = tasks_done_on_backup_hosts(topology)
    backup = client.done(client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(
        volume_id=volume.id, name="across")), backup_pb2.Backup())
    assert backup.status == backup_pb2.BACKUP_STATUS_AVAILABLE and backup.data_bytes >= WRITTEN_MIB * MIB
    # The task's log line follows its ack, which follows the answer.
    checks.wait_for(lambda: tasks_done_on_backup_hosts(topology), lambda done: done > before, 30,
                    "no backup host ran the backup")
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE

    restored = client.done(client.call(client.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(
        backup_id=backup.id, name="to-east", availability_zone="east")), volume_pb2.Volume())
    restored = client.get(restored.id)
    assert restored.host.startswith("store-1@") and restored.status == volume_pb2.VOLUME_STATUS_AVAILABLE, restored

    read = instance_run(topology, guest_image, project, restored.id, "vm-reader",
                        f'dd if="$EMBER_DISK" bs=1M count={WRITTEN_MIB} 2>/dev/null | sha256sum')
    assert read.returncode == 0, read.stderr
    assert f"over nbd (nbds://{topology['store-1'].address}:" in read.stderr, read.stderr
    assert sha256_in(read.stdout) == written, "the restored volume does not hold what the guest wrote"

    checks.settled(client)
    checks.assert_consistent(topology, compute)
