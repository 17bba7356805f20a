"""NATS let in only Ember's processes, each as its own user with only the
subjects its role uses: checked against a real nats-server, configured as
`ember up` and every test cluster configure it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import stat

import nats
import nats.errors
import pytest

from ember import kv, launcher, nats_access, pki, subjects
from ember.bus import Bus
from ember.config import Settings
from ember.pull import Puller
from tests.harness import Cluster

TASKS, EVENTS = subjects.TASKS_STREAM, subjects.EVENTS_STREAM
API = "$JS.API"
REGISTRY, CAPABILITIES = f"$KV.{subjects.REGISTRY_BUCKET}", f"$KV.{subjects.CAPABILITIES_BUCKET}"
# A refusal arrives within milliseconds of the round trip after it.
REFUSAL_WITHIN = 0.5


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    """nats-server with the streams declared; volume-host-b is added once it
    runs, as a volume service started with another EMBER_HOST is."""
    cluster = Cluster(tmp_path_factory.mktemp("nats-access"))
    cluster.expects_nats_violations = True
    try:
        cluster.start_nats()
        cluster.nats_user("volume", "host-b")

        async def declare() -> None:
            bus = await Bus.connect(cluster.nats.address, "declare", options=cluster.nats_options())
            await kv.declare_buckets(bus.js, 30, 1)
            await bus.close()

        asyncio.run(declare())
        yield cluster
    finally:
        cluster.stop()


def as_service(cluster: Cluster, module: str, host: str = "host-a") -> dict:
    """The connect options of `module` on `host`, built as its process builds them."""
    env = cluster.service_env(module, EMBER_HOST=host)
    return nats_access.client_options(Settings(
        tls_ca=env["EMBER_TLS_CA"], tls_cert=env["EMBER_TLS_CERT"], tls_key=env["EMBER_TLS_KEY"],
        nats_user=env["EMBER_NATS_USER"], nats_password_file=env["EMBER_NATS_PASSWORD_FILE"]))


async def refused_at_connect(address: str, **options) -> Exception | None:
    try:
        nc = await asyncio.wait_for(nats.connect(address, allow_reconnect=False, connect_timeout=3, **options), 15)
    except Exception as exc:
        return exc
    await nc.close()
    return None


def test_a_client_speaking_plaintext_is_refused(bed):
    host, port = bed.nats.address.removeprefix("nats://").split(":")
    password = bed.nats_access.passwords.read(nats_access.ADMIN)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        info = conn.recv(4096)
        assert b'"tls_required":true' in info
        connect = {"user": nats_access.ADMIN, "pass": password, "verbose": False}
        conn.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert b"PONG" not in answer


def test_tls_without_a_certificate_of_the_internal_ca_is_refused(bed, tmp_path):
    password = bed.nats_access.passwords.read(nats_access.ADMIN)
    no_certificate = ssl.create_default_context(cafile=str(bed.tls.ca))
    pki.init_ca(tmp_path / "other")
    other = pki.issue(tmp_path / "other", tmp_path / "other", "localhost", ["127.0.0.1"])
    another_ca = nats_access.tls_context(str(bed.tls.ca), str(other.cert), str(other.key))
    for context in (no_certificate, another_ca):
        error = asyncio.run(refused_at_connect(bed.nats.address, tls=context, user=nats_access.ADMIN,
                                               password=password))
        assert error is not None
    # The same with this cluster's certificate gets in: the certificate was what failed.
    assert asyncio.run(refused_at_connect(bed.nats.address, **bed.nats_options())) is None


def test_the_right_certificate_without_the_right_password_is_refused(bed):
    admin = bed.nats_options()
    host_a, host_b = as_service(bed, "volume", "host-a"), as_service(bed, "volume", "host-b")
    for user, password in ((None, None), (nats_access.ADMIN, "guess"), ("volume-host-a", host_b["password"]),
                           ("intruder", admin["password"])):
        credentials = {"user": user, "password": password} if user else {}
        error = asyncio.run(refused_at_connect(bed.nats.address, tls=admin["tls"], **credentials))
        assert "authorization violation" in str(error).lower(), (user, error)
    assert asyncio.run(refused_at_connect(bed.nats.address, **host_a)) is None


# (module, host, "pub" or "sub", subject, allowed)
TABLE = [
    # The gateway reads; it starts no task and announces nothing.
    ("api_gateway", "host-a", "pub", "ember.tasks.scheduler.create", False),
    ("api_gateway", "host-a", "pub", "ember.tasks.volume.host-a.create", False),
    ("api_gateway", "host-a", "pub", "ember.tasks.backup.backup", False),
    ("api_gateway", "host-a", "pub", "ember.events.volume.v1", False),
    ("api_gateway", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.scheduler", False),
    ("api_gateway", "host-a", "pub", f"{API}.CONSUMER.CREATE.{TASKS}", False),
    ("api_gateway", "host-a", "pub", f"{CAPABILITIES}.host-a.file.gold", False),
    ("api_gateway", "host-a", "pub", f"{REGISTRY}.volume.i1", False),
    ("api_gateway", "host-a", "pub", f"{REGISTRY}.gateway.i1", True),
    ("api_gateway", "host-a", "pub", f"{API}.CONSUMER.LIST.{TASKS}", True),
    ("api_gateway", "host-a", "sub", "ember.events.>", True),
    ("api_gateway", "host-a", "sub", "ember.tasks.>", False),
    ("api_gateway", "host-a", "sub", "_INBOX.>", False),
    ("api_gateway", "host-a", "sub", "_INBOX.scheduler-host-a.>", False),
    ("api_gateway", "host-a", "sub", "_INBOX.gateway-host-a.x", True),
    # The scheduler takes its own queue and places on any host.
    ("scheduler", "host-a", "pub", "ember.tasks.volume.host-b.create", True),
    ("scheduler", "host-a", "pub", "ember.tasks.backup.backup", False),
    ("scheduler", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.scheduler", True),
    ("scheduler", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.volume-host-a", False),
    ("scheduler", "host-a", "pub", f"$JS.ACK.{TASKS}.volume-host-a.1.1.1.1.1.1", False),
    ("scheduler", "host-a", "pub", "ember.events.volume.v1", True),
    ("scheduler", "host-a", "sub", "ember.events.>", False),
    # A volume host consumes its own queue alone, in no other way than its durable.
    ("volume", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.volume-host-a", True),
    ("volume", "host-a", "pub", f"$JS.ACK.{TASKS}.volume-host-a.1.1.1.1.1.1", True),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.volume-host-b", False),
    ("volume", "host-a", "pub", f"$JS.ACK.{TASKS}.volume-host-b.1.1.1.1.1.1", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.INFO.{TASKS}.volume-host-b", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.CREATE.{TASKS}.volume-host-b.ember.tasks.volume.host-b.>", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.CREATE.{TASKS}.volume-host-a.ember.tasks.volume.host-b.>", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.DURABLE.CREATE.{TASKS}.volume-host-a", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.CREATE.{TASKS}", False),
    ("volume", "host-a", "pub", f"{API}.CONSUMER.DELETE.{TASKS}.volume-host-b", False),
    ("volume", "host-a", "pub", f"{API}.STREAM.MSG.GET.{TASKS}", False),
    ("volume", "host-a", "pub", f"{API}.DIRECT.GET.{TASKS}", False),
    ("volume", "host-a", "pub", f"{API}.STREAM.PURGE.{TASKS}", False),
    ("volume", "host-a", "pub", f"{API}.STREAM.DELETE.{TASKS}", False),
    ("volume", "host-a", "sub", "ember.tasks.volume.host-b.>", False),
    ("volume", "host-a", "sub", "_INBOX.volume-host-b.>", False),
    ("volume", "host-a", "pub", "_INBOX.volume-host-b.reply", False),
    ("volume", "host-a", "pub", f"{CAPABILITIES}.host-a.file.gold", True),
    ("volume", "host-a", "pub", f"{CAPABILITIES}.host-b.file.gold", False),
    ("volume", "host-a", "pub", f"{REGISTRY}.scheduler.i1", False),
    # Another host's queue is that host's alone: the gateway routes deletes
    # and snapshots to the volume's host, whose reconciler re-publishes them.
    ("volume", "host-a", "pub", "ember.tasks.volume.host-b.delete", False),
    ("volume", "host-a", "pub", "ember.tasks.volume.host-a.delete", True),
    ("volume", "host-a", "pub", "ember.tasks.scheduler.create", True),
    ("volume", "host-b", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.volume-host-b", True),
    ("volume", "host-b", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.volume-host-a", False),
    # The backup service: its own queue, and the scheduler's create for restores into a new volume.
    ("backup", "host-a", "pub", "ember.tasks.backup.backup", True),
    ("backup", "host-a", "pub", "ember.tasks.scheduler.create", True),
    ("backup", "host-a", "pub", "ember.tasks.volume.host-a.delete", False),
    ("backup", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.backup", True),
    ("backup", "host-a", "pub", f"{API}.CONSUMER.MSG.NEXT.{TASKS}.scheduler", False),
    ("backup", "host-a", "pub", f"{CAPABILITIES}.host-a.file.gold", False),
]


async def allowed(address: str, options: dict, kind: str, subject: str) -> bool:
    """Whether nats-server let the publish or subscription through: it
    answers a refused one with a permissions violation, at times only
    after the PONG of the next PING."""
    refused = asyncio.Event()

    async def on_error(error: Exception) -> None:
        text = str(error).lower()
        if "permissions violation" in text and subject.lower() in text:
            refused.set()

    nc = await nats.connect(address, allow_reconnect=False, error_cb=on_error, **options)
    try:
        if kind == "pub":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush(timeout=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(refused.wait(), REFUSAL_WITHIN)
    finally:
        await nc.close()
    return not refused.is_set()


def test_each_role_may_use_only_its_own_subjects(bed):
    async def check() -> list[tuple]:
        found = []
        for module, host, kind, subject, expected in TABLE:
            actual = await allowed(bed.nats.address, as_service(bed, module, host), kind, subject)
            found.append((module, host, kind, subject, actual))
        return found

    assert asyncio.run(check()) == TABLE


def test_the_admin_may_do_anything(bed):
    async def check() -> list[bool]:
        return [await allowed(bed.nats.address, bed.nats_options(), kind, subject) for kind, subject in (
            ("pub", "ember.tasks.volume.host-b.x"), ("sub", "ember.tasks.>"), ("sub", "_INBOX.>"),
            ("pub", f"{API}.CONSUMER.INFO.{TASKS}.volume-host-b"))]

    assert asyncio.run(check()) == [True] * 4


async def test_a_volume_host_takes_its_own_tasks_and_cannot_take_another_hosts(bed):
    got: dict[str, asyncio.Queue] = {"host-a": asyncio.Queue(), "host-b": asyncio.Queue()}
    refusals: list[str] = []

    async def on_error(error: Exception) -> None:
        refusals.append(str(error).lower())

    def handler(host: str):
        async def handle(delivery) -> None:
            await got[host].put(delivery.payload["n"])
        return handle

    address = bed.nats.address
    scheduler = await Bus.connect(address, "scheduler", options=as_service(bed, "scheduler"))
    host_a = await Bus.connect(address, "host-a", options={**as_service(bed, "volume", "host-a"), "error_cb": on_error})
    host_b = await Bus.connect(address, "host-b", options=as_service(bed, "volume", "host-b"))
    try:
        await host_a.consume(subjects.volume_tasks("host-a"), subjects.volume_durable("host-a"), handler("host-a"),
                             ack_wait=5, max_deliver=3)
        await scheduler.publish_task(subjects.volume_task("host-a", "create"), {"n": 1}, msg_id="to-a")
        assert await asyncio.wait_for(got["host-a"].get(), 15) == 1

        # Host B's durable: neither created, nor looked up, nor pulled by host A.
        with pytest.raises((nats.errors.TimeoutError, asyncio.TimeoutError)):
            await host_a.consume(subjects.volume_tasks("host-b"), subjects.volume_durable("host-b"),
                                 handler("host-a"), ack_wait=5, max_deliver=3)
        await host_b.consume(subjects.volume_tasks("host-b"), subjects.volume_durable("host-b"), handler("host-b"),
                             ack_wait=5, max_deliver=3)
        await host_b.stop_consuming(subjects.volume_durable("host-b"))
        await scheduler.publish_task(subjects.volume_task("host-b", "create"), {"n": 2}, msg_id="to-b")
        stealer = Puller(host_a.nc, TASKS, subjects.volume_durable("host-b"))
        await stealer.start()
        assert await stealer.next(10, wait=1) == []
        assert any(f"consumer.msg.next.{TASKS.lower()}.volume-host-b" in refusal for refusal in refusals)

        # Still there for host B.
        await host_b.consume(subjects.volume_tasks("host-b"), subjects.volume_durable("host-b"), handler("host-b"),
                             ack_wait=5, max_deliver=3)
        assert await asyncio.wait_for(got["host-b"].get(), 15) == 2
        assert got["host-a"].empty()
    finally:
        for bus in (scheduler, host_a, host_b):
            await bus.close()


def test_credentials_are_private_files_made_once_per_data_directory(bed):
    users = {bed.service_env(module)["EMBER_NATS_USER"] for module in launcher.SERVICES}
    assert users == {"gateway-host-a", "scheduler-host-a", "volume-host-a", "backup-host-a"}
    for path in [*bed.nats_access.passwords.directory.iterdir(), bed.data_dir / "nats-access.conf"]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    # Passwords are in none of the files a process is started with, only their paths.
    assert bed.nats_access.passwords.read("volume-host-a") not in json.dumps(bed.service_env("volume"))
    again = launcher.Mesh(bed.data_dir, bed.settings)
    assert again.nats_options()["password"] == bed.nats_options()["password"]
