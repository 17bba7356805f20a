"""Rotating the token secret and the host certificates of a running Ember,
one process at a time, under load: no request is refused or lost, and every
operation ends done without error."""

from __future__ import annotations

import collections
import secrets
import socket
import ssl
import threading
import time
import uuid

import grpc
import pytest
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ember import auth, grpc_server, launcher, pki
from ember.internal_client import never_arrived
from ember.v1 import backup_pb2, backup_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc, volume_pb2, volume_pb2_grpc
from tests.harness import Client, Cluster

PROJECT, PAGES = "rotation", "rotation-pages"
THREADS = 4
# Backoff short enough that a restarted gateway is reconnected to before the other one stops.
CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500))
STUBS = {"volumes": volume_pb2_grpc.VolumeServiceStub, "operations": operations_pb2_grpc.OperationsStub,
         "backups": backup_pb2_grpc.BackupServiceStub, "scheduler": scheduler_pb2_grpc.SchedulerServiceStub}


def not_begun(error: grpc.RpcError) -> str:
    """Why no gateway began the call ('never arrived', 'turned away' by a
    stopping gateway), or '' when one may have."""
    if never_arrived(error):
        return "never arrived"
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    if error.code() == grpc.StatusCode.UNAVAILABLE and status is not None and any(
            detail.Unpack(info) and info.reason == grpc_server.STOPPING for detail in status.details):
        return "turned away"
    return ""


class Refused(Exception):
    """A call that failed after it arrived (or when no gateway could be reached)."""


class Gateways:
    """Every gateway, as the CLI holds them (cli/gateways.py): a call goes to
    the gateway that answered last, and on to the next only when no gateway
    began it (stricter than the CLI, which also sends on idempotent calls that
    ended UNAVAILABLE). Any other failure is raised: this test must see none."""

    def __init__(self, addresses: list[str], first: int):
        channels = [grpc.insecure_channel(address, options=CHANNEL_OPTIONS) for address in addresses]
        self.channels, self.current = channels, first
        # Calls sent on to the next gateway, by why: never arrived, or turned away.
        self.passed_on: collections.Counter[str] = collections.Counter()
        self.stubs = [{name: stub(channel) for name, stub in STUBS.items()} for channel in channels]

    def call(self, token: str, service: str, method: str, request, timeout: float = 10.0):
        order = [(self.current + i) % len(self.channels) for i in range(len(self.channels))]
        for tried, index in enumerate(order, 1):
            try:
                answer = getattr(self.stubs[index][service], method)(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=timeout)
            except grpc.RpcError as error:
                why = not_begun(error)
                if why and tried < len(order):
                    self.passed_on[why] += 1
                    continue
                raise Refused(f"{method} via gateway-{index + 1}: {error.code().name}: {error.details()}")
            self.current = index
            return answer

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


class Load:
    """Client threads that each create a volume under a request_id, wait for
    it, read through the scheduler and backup services, delete it and wait,
    until stopped; what went wrong is kept in `failures`."""

    def __init__(self, addresses: list[str], token: str):
        self.tokens = [token] * THREADS
        self.gateways = [Gateways(addresses, me % len(addresses)) for me in range(THREADS)]
        self.answered: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []
        self.cycles = 0
        # What the cluster was going through, for the failures' sake.
        self.moment = "starting"
        self._counting = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(me,)) for me in range(THREADS)]

    def start(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def run(self, me: int) -> None:
        while not self.stopping.is_set():
            try:
                self.cycle(me)
            except (Refused, AssertionError) as failed:
                self.failures.append(f"while {self.moment}: {failed}")

    def call(self, me: int, service: str, method: str, request, timeout: float = 10.0):
        return self.gateways[me].call(self.tokens[me], service, method, request, timeout)

    def cycle(self, me: int) -> None:
        request_id = str(uuid.uuid4())
        created = self.call(me, "volumes", "CreateVolume",
                            volume_pb2.CreateVolumeRequest(size_gb=1, name="rotating", request_id=request_id))
        self.answered[request_id] += 1
        volume = volume_pb2.Volume()
        self.finished(me, created).response.Unpack(volume)
        assert volume.status == volume_pb2.VOLUME_STATUS_AVAILABLE, volume
        self.call(me, "scheduler", "ListAvailabilityZones", scheduler_pb2.ListAvailabilityZonesRequest())
        self.call(me, "backups", "ListBackups", backup_pb2.ListBackupsRequest(page_size=1))
        deleted = self.call(me, "volumes", "DeleteVolume",
                            volume_pb2.DeleteVolumeRequest(id=volume.id, request_id=str(uuid.uuid4())))
        self.finished(me, deleted)
        with self._counting:
            self.cycles += 1

    def finished(self, me: int, op: operations_pb2.Operation, timeout: float = 60.0) -> operations_pb2.Operation:
        """The operation once done, asserted to have succeeded."""
        deadline = time.monotonic() + timeout
        while not op.done and time.monotonic() < deadline:
            wait = operations_pb2.WaitOperationRequest(name=op.name, timeout=duration_pb2.Duration(seconds=2))
            op = self.call(me, "operations", "WaitOperation", wait)
        assert op.done and not op.HasField("error"), op
        return op

    def settle(self, more: int = THREADS) -> None:
        """Until `more` cycles were completed from now: calls flowed through
        whatever mix of old and new settings the cluster has at this moment."""
        target, deadline = self.cycles + more, time.monotonic() + 60
        while self.cycles < target:
            assert time.monotonic() < deadline, self.failures[:3]
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)
        for gateways in self.gateways:
            gateways.close()
        assert not any(thread.is_alive() for thread in self.threads), "a call never came back"

    @property
    def passed_on(self) -> collections.Counter[str]:
        return sum((gateways.passed_on for gateways in self.gateways), collections.Counter())


class Deployment:
    """The cluster's processes by name, with what each was started with, so
    that each can be stopped and started again with the cluster's settings
    of the moment (as an operator changes the configuration, then restarts)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.started: dict[str, tuple[str, dict[str, str]]] = {}
        self.gateways: list[str] = []

    def start(self, module: str, name: str, **extra: str) -> launcher.Process:
        self.started[name] = (module, extra)
        return self.cluster.start(module, name=name, **extra)

    def process(self, name: str) -> launcher.Process:
        return next(p for p in self.cluster.processes if p.name == name and p.running)

    def restart(self, name: str) -> launcher.Process:
        """A graceful stop (SIGTERM: drain, then exit), then a start with the settings of now."""
        old = self.process(name)
        assert old.stop() == 0, old.log()[-3000:]
        self.cluster.processes.remove(old)
        module, extra = self.started[name]
        return self.cluster.start(module, name=name, **extra)


def deploy(c: Cluster) -> Deployment:
    """Two of every process, spread so that each has a twin while it restarts:
    the volume services are those of two storage hosts."""
    d = Deployment(c)
    c.start_nats()
    for suffix in ("", "-2"):
        d.start("scheduler", f"scheduler{suffix}")
        d.start("backup", f"backup{suffix}")
    d.start("volume", "volume")
    d.start("volume", "volume-b", EMBER_HOST="host-b", EMBER_DATA_DIR=str(c.root / "b"))
    for index in (1, 2):
        address = f"127.0.0.1:{launcher.free_port()}"
        # A fixed port: clients know their gateways by address, and a restart keeps it.
        d.start("api_gateway", f"gateway-{index}", EMBER_LISTEN=address)
        d.gateways.append(address)
    return d


# An operator's order: never both of a kind in a row, so one always serves.
ROLLING_ORDER = ("gateway-1", "scheduler", "volume", "backup", "gateway-2", "scheduler-2", "volume-b", "backup-2")


def roll(d: Deployment, load: Load) -> None:
    """Every process restarted in turn, the load served between restarts."""
    for name in ROLLING_ORDER:
        load.moment = f"restarting {name}"
        d.restart(name)
        load.moment = f"after restarting {name}"
        load.settle()


def token(secret: str, project: str = PROJECT) -> str:
    return auth.create_token(auth.Identity(project, "rotator"), secret.encode(), 3600)


def answers(d: Deployment, user_token: str) -> list[grpc.StatusCode]:
    """What each gateway says to a call with `user_token`."""
    codes = []
    for address in d.gateways:
        with grpc.insecure_channel(address) as channel:
            try:
                volume_pb2_grpc.VolumeServiceStub(channel).ListVolumes(
                    volume_pb2.ListVolumesRequest(), metadata=(("authorization", f"Bearer {user_token}"),), timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
    return codes


def served_certificate(address: str, files: pki.TlsFiles) -> bytes:
    """The DER certificate an internal port presents to a client of the CA."""
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    context.set_alpn_protocols(["h2"])
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True)


def second_pages(d: Deployment, user_token: str, tokens: tuple[str, str]) -> list[tuple[int, int]]:
    """Through each gateway, how many volumes and operations the pages after
    the given page tokens (of ListVolumes, of ListOperations) hold."""
    found = []
    for address in d.gateways:
        client = Client(address, user_token)
        try:
            volumes = client.call(client.volumes.ListVolumes,
                                  volume_pb2.ListVolumesRequest(page_size=1, page_token=tokens[0]))
            ops = client.call(client.operations.ListOperations,
                              operations_pb2.ListOperationsRequest(page_size=1, page_token=tokens[1]))
            found.append((len(volumes.volumes), len(ops.operations)))
        finally:
            client.close()
    return found


def first_page_tokens(d: Deployment, user_token: str) -> tuple[str, str]:
    """Page tokens after the first of two volumes and operations, signed now."""
    client = Client(d.gateways[0], user_token)
    try:
        for _ in range(2):
            client.create_available(1)
        volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1))
        ops = client.call(client.operations.ListOperations, operations_pb2.ListOperationsRequest(page_size=1))
    finally:
        client.close()
    assert volumes.next_page_token and ops.next_page_token
    return volumes.next_page_token, ops.next_page_token


def left_behind(d: Deployment, user_token: str) -> tuple[list, list]:
    """The project's volumes and all its operations."""
    client = Client(d.gateways[0], user_token)
    try:
        volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes
        ops, page = [], ""
        while True:
            listed = client.call(client.operations.ListOperations,
                                 operations_pb2.ListOperationsRequest(page_size=1000, page_token=page))
            ops.extend(listed.operations)
            page = listed.next_page_token
            if not page:
                break
    finally:
        client.close()
    return list(volumes), ops


OK, REFUSED = grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED


def rotate_the_token_secret(c: Cluster, d: Deployment, load: Load) -> None:
    """The operator's three rounds; tokens of the old secret work until the last."""
    old, new = c.secret, secrets.token_urlsafe(32)
    pages = first_page_tokens(d, token(old, PAGES))
    # 1: every process also accepts the new secret, still signing with the old.
    c.settings["EMBER_AUTH_SECRETS_ACCEPTED"] = new
    roll(d, load)
    assert answers(d, token(new)) == [OK, OK]
    load.tokens[::2] = [token(new)] * len(load.tokens[::2])
    # 2: every process signs with the new secret and still accepts the old.
    c.settings.update(EMBER_AUTH_SECRET=new, EMBER_AUTH_SECRETS_ACCEPTED=old)
    roll(d, load)
    assert answers(d, token(old)) == [OK, OK]
    # Pages the old secret signed go on where only the new one signs.
    assert second_pages(d, token(new, PAGES), pages) == [(1, 1), (1, 1)]
    load.tokens[:] = [token(new)] * len(load.tokens)
    # 3: the old secret is dropped.
    del c.settings["EMBER_AUTH_SECRETS_ACCEPTED"]
    c.secret = new
    roll(d, load)
    assert answers(d, token(old)) == [REFUSED, REFUSED]
    assert answers(d, token(new)) == [OK, OK]


def rotate_the_host_certificates(c: Cluster, d: Deployment, load: Load) -> None:
    """A fresh certificate and key of the same CA, taken by one process after another."""
    files = pki.issue(c.data_dir / "pki", c.root / "pki-rotated", pki.LOCAL_HOST, ["127.0.0.1", "::1"])
    c.settings.update(files.env())
    roll(d, load)
    new = ssl.PEM_cert_to_DER_cert(files.cert.read_text())
    for name, (module, _) in d.started.items():
        if module != "api_gateway":
            assert served_certificate(d.process(name).address, files) == new, name


@pytest.fixture
def sqlite_cluster(tmp_path):
    # What is rotated (secrets, certificates) and how a restart drains are
    # the processes' alone: the database behind them changes nothing here.
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


@pytest.mark.timeout(900)
def test_rotating_the_token_secret_and_the_host_certificates_loses_nothing(sqlite_cluster: Cluster):
    c = sqlite_cluster
    d = deploy(c)
    load = Load(d.gateways, token(c.secret)).start()
    try:
        load.settle()
        rotate_the_token_secret(c, d, load)
        rotate_the_host_certificates(c, d, load)
    finally:
        load.stop()
    assert load.failures == [], load.failures
    # One answer per request_id, and one operation: a call sent on to the other gateway was begun by none.
    assert set(load.answered.values()) == {1} and len(load.answered) == load.cycles
    volumes, ops = left_behind(d, token(c.secret))
    assert volumes == [], "volumes left behind (a create done twice, or stuck)"
    assert len(ops) == 2 * load.cycles, "one operation per create and per delete"
    assert [op.name for op in ops if not op.done or op.HasField("error")] == []
    print(f"rotation: {load.cycles} volumes created and deleted through {len(ROLLING_ORDER) * 4} restarts; "
          f"calls passed on to the other gateway: {dict(load.passed_on)}")
