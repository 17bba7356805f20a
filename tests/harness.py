"""A real Ember on loopback for tests: nats-server with JetStream, each service
as its own process on an ephemeral port, one data directory per cluster."""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from ember import auth, launcher
from ember.v1 import (
    backup_pb2_grpc, quota_pb2, quota_pb2_grpc, scheduler_pb2_grpc, snapshot_pb2_grpc, volume_pb2, volume_pb2_grpc,
    volume_type_pb2, volume_type_pb2_grpc,
)

# Short windows so that recovery paths run within a test's patience.
FAST_SETTINGS = {
    "EMBER_REPORT_INTERVAL": "1",
    "EMBER_REGISTRY_TTL": "6",
    "EMBER_TASK_ACK_WAIT": "3",
    "EMBER_OUTBOX_RETRY_AFTER": "3",
    "EMBER_QUOTA_VOLUMES": "1000",
    "EMBER_QUOTA_GIGABYTES": "100000",
    "EMBER_QUOTA_SNAPSHOTS": "1000",
    "EMBER_QUOTA_BACKUPS": "1000",
    "EMBER_QUOTA_BACKUP_GIGABYTES": "100000",
}


class Sqlite:
    """SQLite in the Ember's data directory (tests.postgres.Postgres is the other kind)."""

    name = "sqlite"

    def url(self, root: pathlib.Path) -> str:
        return f"sqlite:///{root / 'ember.db'}"


SQLITE = Sqlite()


class Cluster(launcher.Mesh):
    """A Mesh with a signing secret of its own, short timeouts, one database
    for all its processes (SQLite unless `database` says otherwise; hosts may
    get data dirs of their own) and clients."""

    # A test that tries what NATS must refuse sets this; any other test fails
    # when nats-server refused one of its processes something.
    expects_nats_violations = False

    def __init__(self, root: pathlib.Path, database=SQLITE, **settings: str):
        self.root = root
        self.secret = secrets.token_urlsafe(32)
        self.database_url = database.url(root)
        super().__init__(
            root,
            {
                "EMBER_DATABASE_URL": self.database_url,
                "EMBER_AUTH_SECRET": self.secret,
                "EMBER_HOST": "host-a",
                # Tests run Embers side by side: no fixed gateway port.
                "EMBER_LISTEN": "127.0.0.1:0",
                **FAST_SETTINGS,
                **settings,
            },
        )

    def token(self, project: str = "demo", admin: bool = False, user: str = "tester") -> str:
        identity = auth.Identity(project, user, (auth.ADMIN_ROLE,) if admin else ())
        return auth.create_token(identity, self.secret.encode(), 3600)

    def client(self, project: str = "demo", admin: bool = False) -> "Client":
        return Client(self.gateway, self.token(project, admin))

    def start_two_hosts(self) -> launcher.Process:
        """nats, scheduler, gateway and two volume services: host-a takes
        every volume; host-b (no room) answers calls while host-a is down.
        Returns host-a's process."""
        self.start_nats()
        self.start("scheduler")
        host_a = self.start("volume")
        self.start("volume", name="volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(self.root / "b"),
                   EMBER_BACKENDS='[{"name": "file", "pools": ["elsewhere"], "capacity_gb": 1}]')
        self.start("api_gateway")
        return host_a

    def set_quota(self, project: str, **limits: int) -> quota_pb2.Quota:
        admin = self.client("quota-admin", admin=True)
        return admin.call(admin.quotas.UpdateQuota, quota_pb2.UpdateQuotaRequest(project_id=project, limits=limits))

    def stop(self) -> list[str]:
        killed = super().stop()
        # NBD exports outlive their volume service by design (a VM keeps its
        # disk); a test's exports must not outlive the test.
        for pid_file in self.root.rglob("exports/*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                if str(self.root).encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        refused = [line for node in self.nats_nodes for line in node.log().splitlines() if "Violation" in line]
        assert self.expects_nats_violations or not refused, (
            "nats-server refused a process what it did (missing from ember/nats_access.py?):\n"
            + "\n".join(refused[:20]))
        return killed

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-4000:]}" for p in self.processes)


@contextlib.contextmanager
def running(root: pathlib.Path, database=SQLITE, **settings: str) -> Iterator[Cluster]:
    """A started Cluster, stopped when the block ends."""
    cluster = Cluster(root, database, **settings)
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop()


class Client:
    """The stubs a gRPC user has, with the bearer token attached."""

    def __init__(self, address: str, token: str):
        self.channel = grpc.insecure_channel(address)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.volumes = volume_pb2_grpc.VolumeServiceStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)
        self.scheduler = scheduler_pb2_grpc.SchedulerServiceStub(self.channel)
        self.types = volume_type_pb2_grpc.VolumeTypeServiceStub(self.channel)
        self.quotas = quota_pb2_grpc.QuotaServiceStub(self.channel)
        self.snapshots = snapshot_pb2_grpc.SnapshotServiceStub(self.channel)
        self.backups = backup_pb2_grpc.BackupServiceStub(self.channel)

    def call(self, method, request, timeout: float = 10):
        return method(request, metadata=self.metadata, timeout=timeout)

    def wait(self, op: operations_pb2.Operation, timeout: float = 30) -> operations_pb2.Operation:
        """WaitOperation until the operation is done or `timeout` passed; it
        returns early at each progress step, so this loops."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            request = operations_pb2.WaitOperationRequest(
                name=op.name, timeout=duration_pb2.Duration(seconds=max(int(left), 0), nanos=int(left % 1 * 1e9))
            )
            op = self.call(self.operations.WaitOperation, request, timeout=max(left, 0) + 5)
            if op.done or time.monotonic() >= deadline:
                return op

    def create(self, size_gb: int = 1, **fields) -> operations_pb2.Operation:
        return self.call(self.volumes.CreateVolume, volume_pb2.CreateVolumeRequest(size_gb=size_gb, **fields))

    def create_available(self, size_gb: int = 1, **fields) -> volume_pb2.Volume:
        return self.done(self.create(size_gb, **fields), volume_pb2.Volume())

    def done(self, op: operations_pb2.Operation, message):
        """Waits for the operation, asserts it succeeded, returns its response as `message`."""
        op = self.wait(op)
        assert op.done and not op.HasField("error"), op
        op.response.Unpack(message)
        return message

    def get(self, volume_id: str) -> volume_pb2.Volume:
        return self.call(self.volumes.GetVolume, volume_pb2.GetVolumeRequest(id=volume_id))

    def delete(self, volume_id: str) -> operations_pb2.Operation:
        return self.call(self.volumes.DeleteVolume, volume_pb2.DeleteVolumeRequest(id=volume_id))

    def make_type(self, name: str, **fields) -> volume_type_pb2.VolumeType:
        request = volume_type_pb2.CreateVolumeTypeRequest(volume_type=volume_type_pb2.VolumeType(name=name, **fields))
        return self.call(self.types.CreateVolumeType, request)

    def concurrent_creates(self, count: int) -> list[grpc.StatusCode]:
        """`count` 1 GiB creates at once; the status code of each."""

        def create(_) -> grpc.StatusCode:
            try:
                self.create(1)
                return grpc.StatusCode.OK
            except grpc.RpcError as error:
                return error.code()

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(create, range(count)))

    def close(self) -> None:
        self.channel.close()
