"""Who may call what, over every RPC from the descriptors: bad tokens, missing roles, other projects and direct calls
to internal ports (over mutual TLS) are refused; the gateway serves TLS; no token or secret reaches a log."""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib
import re
import subprocess
import sys
import uuid

import grpc
import jwt
import pytest
import trustme
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from api_gateway.proxy import PUBLIC_SERVICES, ROUTES
from api_gateway.service import OPERATIONS_SERVICE
from ember import auth, launcher
from ember.v1 import (
    attachment_pb2, backup_pb2, quota_pb2, snapshot_pb2, volume_host_pb2, volume_pb2, volume_pb2_grpc,
    volume_type_pb2,
)
from tests import mtls
from tests.harness import Cluster

CALL_TIMEOUT = 10.0
OWNER, OTHER = "sec-owner", "sec-other"
# Distinctive, so that finding it in a log means a credential was logged.
GARBAGE = "not-a-jwt-5e1f0c"
BASIC = base64.b64encode(f"mallory:{GARBAGE}".encode()).decode()
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.")
LOCAL = attachment_pb2.Connector(host="host-a", transports=["local"])

POOL = descriptor_pool.Default()
RPCS = [method for name in (*PUBLIC_SERVICES, OPERATIONS_SERVICE) for method in POOL.FindServiceByName(name).methods]
BY_NAME = {f"{m.containing_service.name}/{m.name}": m for m in RPCS}
# Listed here rather than imported from the gateway, so that a check dropped
# there fails this test; test_the_admin_role_is_needed_exactly_there proves
# that no other RPC refuses users.
ADMIN_ONLY = {
    "SchedulerService/ListPools", "VolumeService/ForceDetach", "VolumeService/ResetVolumeStatus",
    "VolumeService/ResetAttachmentStatus", "VolumeService/ForceDeleteVolume", "SnapshotService/ResetSnapshotStatus",
    "BackupService/ExportBackupRecord", "BackupService/ImportBackupRecord", "VolumeTypeService/CreateVolumeType",
    "VolumeTypeService/UpdateVolumeType", "VolumeTypeService/DeleteVolumeType", "QuotaService/UpdateQuota",
}
# The non-admin RPCs that name no resource: each is checked on its own below.
NO_RESOURCE = {"VolumeService/ListVolumes", "VolumeTypeService/ListVolumeTypes", "Operations/ListOperations",
               "SchedulerService/ListAvailabilityZones", "QuotaService/GetQuota"}


def name_of(method) -> str:
    return f"{method.containing_service.name}/{method.name}"


def call(channel, method, metadata=(), request=None) -> tuple[grpc.StatusCode, str]:
    """(code, details) of `method` called with `request` (default: empty),
    with the answer as text for details when OK; a streaming answer counts
    by its first message."""
    request = request if request is not None else message_factory.GetMessageClass(method.input_type)()
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    stub = kind(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString,
    )
    try:
        answer = stub(request, metadata=metadata, timeout=CALL_TIMEOUT)
        if method.server_streaming:
            stream, answer = answer, next(answer, None)
            stream.cancel()
        return grpc.StatusCode.OK, str(answer)
    except grpc.RpcError as error:
        return error.code(), error.details()


def bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Who may call what is decided by the interceptors, the gateway and each
    # query's project filter, which peewee writes alike for every database:
    # SQLite is enough here.
    c = Cluster(tmp_path_factory.mktemp("security"))
    try:
        yield c.start_all()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def gateway(cluster):
    channel = grpc.insecure_channel(cluster.gateway)
    yield channel
    channel.close()


@pytest.fixture(scope="module")
def bad_credentials(cluster) -> dict[str, tuple]:
    me = auth.Identity(OTHER, "mallory")
    secret = cluster.secret.encode()
    claims = {"iss": auth.ISSUER, "aud": auth.USER_AUDIENCE, "sub": "mallory", "project": OTHER, "exp": 2**40}
    return {
        "no metadata": (),
        "another secret": bearer(auth.create_token(me, b"not-" + secret, 3600)),
        "expired": bearer(auth.create_token(me, secret, -60)),
        "unsigned": bearer(jwt.encode(claims, None, algorithm="none")),
        "internal identity as bearer": bearer(auth.create_internal(me, secret)),
        "internal identity header": ((auth.INTERNAL_METADATA_KEY, auth.create_internal(me, secret)),),
        "garbage bearer": bearer(GARBAGE),
        "empty bearer": (("authorization", "Bearer "),),
        "basic": (("authorization", f"Basic {BASIC}"),),
    }


@pytest.mark.parametrize("method", RPCS, ids=name_of)
def test_every_rpc_refuses_bad_credentials(gateway, bad_credentials, method):
    answers = {what: call(gateway, method, metadata) for what, metadata in bad_credentials.items()}
    wrong = {what: answer for what, answer in answers.items() if answer[0] != grpc.StatusCode.UNAUTHENTICATED}
    assert not wrong


def test_health_and_reflection_need_no_token(gateway):
    health = health_pb2_grpc.HealthStub(gateway).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    answers = reflection_pb2_grpc.ServerReflectionStub(gateway).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_TIMEOUT)
    listed = {s.name for s in next(answers).list_services_response.service}
    assert {*PUBLIC_SERVICES, OPERATIONS_SERVICE} <= listed


@pytest.mark.parametrize("method", RPCS, ids=name_of)
def test_the_admin_role_is_needed_exactly_there(cluster, gateway, method):
    """An empty request is enough: the role is checked before the request is."""
    user_code, details = call(gateway, method, bearer(cluster.token(OTHER)))
    admin_code, admin_details = call(gateway, method, bearer(cluster.token(OTHER, admin=True)))
    if name_of(method) in ADMIN_ONLY:
        assert user_code == grpc.StatusCode.PERMISSION_DENIED, details
    else:
        assert user_code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), details
    assert admin_code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), admin_details


@dataclasses.dataclass
class Theirs:
    """What project OWNER has, and how OWNER sees it."""

    volume: volume_pb2.Volume
    snapshot: snapshot_pb2.Snapshot
    backup: backup_pb2.Backup
    attachment: attachment_pb2.Attachment
    volume_type: volume_type_pb2.VolumeType
    operation: str


@pytest.fixture(scope="module")
def theirs(cluster) -> Theirs:
    owner = cluster.client(OWNER)
    op = owner.create(1, name="owner's")
    volume = owner.done(op, volume_pb2.Volume())
    snapshot = owner.done(owner.call(owner.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
        volume_id=volume.id)), snapshot_pb2.Snapshot())
    backup = owner.done(owner.call(owner.backups.CreateBackup, backup_pb2.CreateBackupRequest(
        volume_id=volume.id)), backup_pb2.Backup())
    attachment = owner.call(owner.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="owner-vm", connector=LOCAL))
    volume_type = cluster.client("sec-admin", admin=True).make_type(
        "owner-only", is_public=False, access_project_ids=[OWNER])
    return Theirs(volume, snapshot, backup, attachment, volume_type, op.name)


def foreign_requests(t: Theirs) -> list[tuple[str, object, grpc.StatusCode]]:
    """For every non-admin RPC that names a resource, requests naming one of
    `t`'s and the answer a stranger gets: NOT_FOUND, but a filter lists
    nothing and a type is a field, which an unusable value makes invalid."""
    v, s, b, a, vt, op = t.volume.id, t.snapshot.id, t.backup.id, t.attachment.id, t.volume_type.id, t.operation
    nf, listed, bad = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT
    return [
        ("VolumeService/GetVolume", volume_pb2.GetVolumeRequest(id=v), nf),
        ("VolumeService/UpdateVolume", volume_pb2.UpdateVolumeRequest(volume=volume_pb2.Volume(id=v, name="x")), nf),
        ("VolumeService/DeleteVolume", volume_pb2.DeleteVolumeRequest(id=v, cascade=True), nf),
        ("VolumeService/ExtendVolume", volume_pb2.ExtendVolumeRequest(id=v, new_size_gb=2), nf),
        ("VolumeService/WatchVolume", volume_pb2.WatchVolumeRequest(id=v), nf),
        ("VolumeService/CreateVolume", volume_pb2.CreateVolumeRequest(size_gb=1, source_volume_id=v), nf),
        ("VolumeService/CreateVolume", volume_pb2.CreateVolumeRequest(size_gb=1, source_snapshot_id=s), nf),
        ("VolumeService/CreateVolume", volume_pb2.CreateVolumeRequest(size_gb=1, volume_type=vt), bad),
        ("VolumeService/CreateAttachment", attachment_pb2.CreateAttachmentRequest(
            volume_id=v, instance_id="thief", connector=LOCAL), nf),
        ("VolumeService/GetAttachment", attachment_pb2.GetAttachmentRequest(id=a), nf),
        ("VolumeService/ListAttachments", attachment_pb2.ListAttachmentsRequest(volume_id=v), listed),
        ("VolumeService/UpdateAttachment", attachment_pb2.UpdateAttachmentRequest(attachment_id=a, connector=LOCAL), nf),
        ("VolumeService/CompleteAttachment", attachment_pb2.CompleteAttachmentRequest(attachment_id=a), nf),
        ("VolumeService/DeleteAttachment", attachment_pb2.DeleteAttachmentRequest(attachment_id=a), nf),
        ("SnapshotService/CreateSnapshot", snapshot_pb2.CreateSnapshotRequest(volume_id=v, force=True), nf),
        ("SnapshotService/GetSnapshot", snapshot_pb2.GetSnapshotRequest(id=s), nf),
        ("SnapshotService/ListSnapshots", snapshot_pb2.ListSnapshotsRequest(volume_id=v), listed),
        ("SnapshotService/UpdateSnapshot", snapshot_pb2.UpdateSnapshotRequest(
            snapshot=snapshot_pb2.Snapshot(id=s, name="x")), nf),
        ("SnapshotService/DeleteSnapshot", snapshot_pb2.DeleteSnapshotRequest(id=s), nf),
        ("SnapshotService/WatchSnapshot", snapshot_pb2.WatchSnapshotRequest(id=s), nf),
        ("BackupService/CreateBackup", backup_pb2.CreateBackupRequest(volume_id=v, force=True), nf),
        ("BackupService/GetBackup", backup_pb2.GetBackupRequest(id=b), nf),
        ("BackupService/ListBackups", backup_pb2.ListBackupsRequest(volume_id=v), listed),
        ("BackupService/UpdateBackup", backup_pb2.UpdateBackupRequest(backup=backup_pb2.Backup(id=b, name="x")), nf),
        ("BackupService/DeleteBackup", backup_pb2.DeleteBackupRequest(id=b), nf),
        ("BackupService/RestoreBackup", backup_pb2.RestoreBackupRequest(backup_id=b), nf),
        ("BackupService/VerifyBackup", backup_pb2.VerifyBackupRequest(id=b), nf),
        ("BackupService/WatchBackup", backup_pb2.WatchBackupRequest(id=b), nf),
        ("VolumeTypeService/GetVolumeType", volume_type_pb2.GetVolumeTypeRequest(id=vt), nf),
        ("Operations/GetOperation", operations_pb2.GetOperationRequest(name=op), nf),
        ("Operations/WaitOperation", operations_pb2.WaitOperationRequest(name=op), nf),
        ("Operations/DeleteOperation", operations_pb2.DeleteOperationRequest(name=op), nf),
        ("Operations/CancelOperation", operations_pb2.CancelOperationRequest(name=op), nf),
    ]


def nobodys() -> Theirs:
    """Resources that do not exist."""
    ids = [str(uuid.uuid4()) for _ in range(6)]
    return Theirs(volume_pb2.Volume(id=ids[0]), snapshot_pb2.Snapshot(id=ids[1]), backup_pb2.Backup(id=ids[2]),
                  attachment_pb2.Attachment(id=ids[3]), volume_type_pb2.VolumeType(id=ids[4]), f"operations/{ids[5]}")


def owner_view(cluster, t: Theirs) -> list:
    owner = cluster.client(OWNER)
    return [
        owner.get(t.volume.id),
        owner.call(owner.snapshots.GetSnapshot, snapshot_pb2.GetSnapshotRequest(id=t.snapshot.id)),
        owner.call(owner.backups.GetBackup, backup_pb2.GetBackupRequest(id=t.backup.id)),
        owner.call(owner.volumes.GetAttachment, attachment_pb2.GetAttachmentRequest(id=t.attachment.id)),
        owner.call(owner.quotas.GetQuota, quota_pb2.GetQuotaRequest()),
        owner.call(owner.operations.GetOperation, operations_pb2.GetOperationRequest(name=t.operation)),
    ]


def test_another_projects_resources_are_not_found_and_stay_as_they_were(cluster, gateway, theirs):
    requests = foreign_requests(theirs)
    assert {name for name, _, _ in requests} == set(BY_NAME) - ADMIN_ONLY - NO_RESOURCE
    before = owner_view(cluster, theirs)
    other = bearer(cluster.token(OTHER))
    for (name, request, expected), (_, unknown, _) in zip(requests, foreign_requests(nobodys())):
        code, details = call(gateway, BY_NAME[name], other, request)
        # The same answer as for a resource that does not exist: anything
        # else, a refusal above all, would tell that it does.
        assert (code, call(gateway, BY_NAME[name], other, unknown)[0]) == (expected, expected), (name, details)
        assert code != grpc.StatusCode.OK or details == "", f"{name} listed {details}"
    assert owner_view(cluster, theirs) == before

    stranger = cluster.client(OTHER)
    assert not stranger.call(stranger.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
    assert not stranger.call(stranger.operations.ListOperations, operations_pb2.ListOperationsRequest()).operations
    names = {t.name for t in stranger.call(stranger.types.ListVolumeTypes, volume_type_pb2.ListVolumeTypesRequest())
             .volume_types}
    assert theirs.volume_type.name not in names
    # Projects are not stored, so asking for any other one's quota is the
    # same refusal whether it has resources or not.
    quota = BY_NAME["QuotaService/GetQuota"]
    codes = {call(gateway, quota, other, quota_pb2.GetQuotaRequest(project_id=p))[0] for p in (OWNER, "sec-nobody")}
    assert codes == {grpc.StatusCode.PERMISSION_DENIED}


INTERNAL_SERVICES = {
    process: [POOL.FindServiceByName(prefix.strip("/")) for prefix, owner in ROUTES.items() if owner == process]
    for process in set(ROUTES.values())
}
INTERNAL_SERVICES["volume"].append(volume_host_pb2.DESCRIPTOR.services_by_name["VolumeHostService"])
# A read every process answers to the gateway's identity: the refusals below
# are then the missing identity's doing.
ANSWERS_GATEWAY = {"volume": "VolumeService/ListVolumes", "scheduler": "SchedulerService/ListAvailabilityZones",
                   "backup": "BackupService/ListBackups"}


@pytest.mark.parametrize("process", sorted(INTERNAL_SERVICES))
def test_internal_ports_admit_only_the_gateways_identity(cluster, process):
    address = next(p.address for p in cluster.processes if p.name == process)
    me = auth.Identity(OTHER, "mallory", (auth.ADMIN_ROLE,))
    secret = cluster.secret.encode()
    user_token = cluster.token(OTHER, admin=True)
    refused = {
        "no metadata": (),
        "user token as bearer": bearer(user_token),
        "user token as identity": ((auth.INTERNAL_METADATA_KEY, user_token),),
        "identity of another secret": ((auth.INTERNAL_METADATA_KEY, auth.create_internal(me, b"not-" + secret)),),
    }
    # Inside mutual TLS, as the gateway calls: the certificate lets a caller
    # in, and the signed identity still decides what it may do.
    with mtls.channel(cluster.data_dir, address) as channel:
        gateway_identity = ((auth.INTERNAL_METADATA_KEY, auth.create_internal(me, secret)),)
        assert call(channel, BY_NAME[ANSWERS_GATEWAY[process]], gateway_identity)[0] == grpc.StatusCode.OK
        for method in (m for service in INTERNAL_SERVICES[process] for m in service.methods):
            for what, metadata in refused.items():
                code, details = call(channel, method, metadata)
                assert code == grpc.StatusCode.UNAUTHENTICATED, (name_of(method), what, details)


@dataclasses.dataclass
class TlsGateway:
    process: launcher.Process
    ca: pathlib.Path
    key: pathlib.Path


@pytest.fixture(scope="module")
def tls(cluster, tmp_path_factory) -> TlsGateway:
    """A second gateway of the cluster, serving TLS with a certificate from a CA of the test's own."""
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = root / "cert.pem", root / "key.pem", root / "ca.pem"
    server.private_key_pem.write_to_path(key)
    cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    ca.cert_pem.write_to_path(bundle)
    env = cluster.service_env("api_gateway", EMBER_PUBLIC_TLS_CERT=str(cert), EMBER_PUBLIC_TLS_KEY=str(key))
    process = launcher.start_service("api_gateway", env, cluster.data_dir / "logs", name="gateway-tls")
    try:
        yield TlsGateway(process, bundle, key)
    finally:
        process.stop()


def secure(address: str, ca_pem: bytes) -> grpc.Channel:
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca_pem))


def test_the_gateway_serves_tls_with_a_certificate(cluster, tls):
    token = bearer(cluster.token("sec-tls"))
    with secure(tls.process.address, tls.ca.read_bytes()) as channel:
        volumes = volume_pb2_grpc.VolumeServiceStub(channel)
        op = volumes.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=1), metadata=token, timeout=CALL_TIMEOUT)
        listed = volumes.ListVolumes(volume_pb2.ListVolumesRequest(), metadata=token, timeout=CALL_TIMEOUT)
        assert op.name and len(listed.volumes) == 1
        # TLS hides the token on the wire; it does not replace it.
        assert call(channel, BY_NAME["VolumeService/ListVolumes"])[0] == grpc.StatusCode.UNAUTHENTICATED
    cluster.client("sec-tls").done(op, volume_pb2.Volume())

    other_ca = trustme.CA().cert_pem.bytes()
    for channel in (grpc.insecure_channel(tls.process.address), secure(tls.process.address, other_ca)):
        with channel:
            code, details = call(channel, BY_NAME["VolumeService/ListVolumes"], token)
            assert code == grpc.StatusCode.UNAVAILABLE, details


def ember(*args: str, **env: str) -> subprocess.CompletedProcess:
    command = [str(pathlib.Path(sys.executable).parent / "ember"), *args]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=30)


def test_the_cli_trusts_the_ca_of_ember_tls_ca(cluster, tls):
    env = {"EMBER_URL": tls.process.address, "EMBER_TOKEN": cluster.token("sec-tls")}
    listed = ember("volume", "list", EMBER_TLS_CA=str(tls.ca), **env)
    assert listed.returncode == 0 and "available" in listed.stdout, listed.stderr
    missing = ember("volume", "list", EMBER_TLS_CA=str(tls.ca.with_name("absent.pem")), **env)
    assert missing.returncode == 1 and "EMBER_TLS_CA: cannot read" in missing.stderr
    plaintext = ember("volume", "list", **env)
    assert plaintext.returncode == 1 and "set EMBER_TLS_CA" in plaintext.stderr


def test_no_token_or_secret_reaches_a_log(cluster, tls):
    """Runs last: by now every kind of credential has been sent, refused and passed on."""
    key = tls.key.read_text().splitlines()[1]
    logs = {p.name: p.log() for p in (*cluster.processes, cluster.nats, tls.process)}
    for name, text in logs.items():
        assert not JWT.search(text), f"{name} logged a token"
        for leak in (cluster.secret, GARBAGE, BASIC, key):
            assert leak not in text, f"{name} logged {leak[:8]}..."
    # Refusals are logged, so the checks above read logs that saw the credentials.
    assert all("refused" in logs[name] for name in ("api_gateway", *INTERNAL_SERVICES))

    help_text = subprocess.run([sys.executable, "-m", "api_gateway", "--help"], capture_output=True, text=True,
                               env={**os.environ, "EMBER_AUTH_SECRET": cluster.secret}, timeout=30)
    # argparse wraps long words, so the secret is looked for across lines too.
    assert help_text.returncode == 0 and cluster.secret not in "".join(help_text.stdout.split())
