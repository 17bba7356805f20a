"""An intruder on the storage network: a host on the same bridge with the
internal CA's certificate but none of its own. Every internal door refuses it;
the public gateway serves it like any client with a token; and nothing it
tried changed a row, a file or a stream."""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import urllib.parse

import pytest

from ember import auth, nats_access, pki, subjects
from ember.v1 import attachment_pb2, volume_pb2
from tests.integration.test_nats_access import allowed
from tests.integration.test_security import INTERNAL_SERVICES
from tests import outsiders
from tests.multihost import checks, intruder
from tests.multihost.checks import pool_dir
from tests.multihost.test_nats_host_lost import stream_infos
from tests.multihost.topology import NATS_PORT, PORTS, SERVICES, ZONES, nats_url

INTRUDER_NUMBER = 99
TABLES = ("volume", "snapshot", "attachment", "backup", "operation")


def state(topology) -> dict:
    """What an intrusion could change: every row of the tables that matter,
    every volume file, and the task and event streams."""
    database = urllib.parse.urlsplit(topology.database_url).path.lstrip("/")
    rows = {table: topology.postgres.sql(
        f"select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {table} t", database)
        for table in TABLES}
    files = {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
             for host in ZONES for path in sorted(pool_dir(topology, host).glob("*"))}
    streams = {name: (info.state.messages, info.state.last_seq) for name, info in stream_infos(topology).items()
               if name in (subjects.TASKS_STREAM, subjects.EVENTS_STREAM)}
    return {"rows": rows, "files": files, "streams": streams}


@pytest.fixture(scope="module")
def before(topology) -> dict:
    return state(topology)


@pytest.fixture(scope="module")
def outsider(topology, before):
    """The intruder host and an agent inside it."""
    host = topology.network.add("intruder", INTRUDER_NUMBER)
    shutil.copy(topology.ca_dir / pki.CA_CERT, host.data_dir / pki.CA_CERT)
    agent = topology.agent("intruder")
    try:
        yield host, agent
    finally:
        agent.close()


def internal_ports(topology) -> list[tuple[str, str, str]]:
    """(host, process, address) of every internal gRPC server of the topology."""
    process = {"scheduler": "scheduler", "volume": "volume", "backup": "backup"}
    return [(host, process[service], f"{topology[host].address}:{PORTS[service]}")
            for host, services in SERVICES.items() for service in services if service in process]


def test_every_internal_grpc_port_refuses_the_intruder(topology, outsider):
    host, agent = outsider
    ca = (host.data_dir / pki.CA_CERT).read_bytes()
    # As if read off the wire before mutual TLS, or out of a process's memory:
    # valid, unexpired, signed with the deployment's secret.
    captured = auth.create_internal(auth.Identity("victim", "admin", (auth.ADMIN_ROLE,)), topology.secret.encode())
    ports = internal_ports(topology)
    assert {process for _, process, _ in ports} == set(INTERNAL_SERVICES)
    for name, process, address in ports:
        answers = agent.call(outsiders.answers, process, address, ca, captured)
        let_in = {way: {rpc: code for rpc, code in codes.items() if code != "UNAVAILABLE"}
                  for way, codes in answers.items()}
        assert not any(let_in.values()), (name, process, let_in)
        listed = agent.call(intruder.grpcurl_list, address, host.data_dir / pki.CA_CERT)
        assert listed.returncode != 0 and "ember.v1" not in listed.stdout, (name, listed.stdout, listed.stderr)


def test_nats_refuses_the_intruder_even_with_a_services_password(topology, outsider):
    host, agent = outsider
    stolen = topology.nats_access.settings(nats_access.User("volume", "store-1"))
    password = pathlib.Path(stolen["nats_password_file"]).read_text().strip()
    attempts = agent.call(intruder.nats_attempts, nats_url().split(","), host.data_dir / pki.CA_CERT,
                          stolen["nats_user"], password)
    assert set(attempts) == {"no TLS", "TLS without a client certificate", "a certificate from another CA"}
    assert "connected" not in attempts.values(), attempts


def test_a_storage_hosts_nats_user_cannot_use_another_hosts_queue(topology):
    """store-1's own credentials and certificate, from store-1: its user may
    not feed or drain store-2's queue."""
    options = topology.nats_access.client_options(nats_access.User("volume", "store-1"), topology.tls("store-1"))
    url = f"nats://{topology['nats-1'].address}:{NATS_PORT}"
    attempts = [
        ("pub", subjects.volume_task("store-2", "delete"), False),
        ("pub", f"$JS.API.CONSUMER.MSG.NEXT.{subjects.TASKS_STREAM}.{subjects.volume_durable('store-2')}", False),
        ("sub", subjects.volume_tasks("store-2"), False),
        # The same connection may do what store-1 needs, so the refusals are the subjects'.
        ("sub", f"{nats_access.inbox('volume-store-1')}.probe", True),
    ]

    async def answers() -> list[bool]:
        return [await allowed(url, options, kind, subject) for kind, subject, _ in attempts]

    assert topology["store-1"].inside(lambda: asyncio.run(answers())) == [ok for _, _, ok in attempts]


def test_nothing_the_intruder_tried_changed_a_row_a_file_or_a_stream(topology, outsider, before):
    assert state(topology) == before


def _start(path: pathlib.Path, size: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _attach(client, volume_id: str, instance: str):
    return client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id=instance, connector=attachment_pb2.Connector(
            host="compute-1", transports=["nbd"])), timeout=60)


def _detach(client, attachment_id: str) -> None:
    client.call(client.volumes.DeleteAttachment,
                attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id), timeout=60)


def test_an_nbd_export_takes_only_its_own_attachments_secret(topology, compute, outsider):
    host, agent = outsider
    victim, other = checks.client(topology, compute, "nbd-victim"), checks.client(topology, compute, "nbd-other")
    volume = victim.create_available(1, availability_zone="east")
    neighbour = other.create_available(1, availability_zone="east")
    payload = host.data_dir / "payload"
    payload.write_bytes(b"intruder" * 512)
    attachment, theirs = _attach(victim, volume.id, "vm-victim"), _attach(other, neighbour.id, "vm-other")
    try:
        data, other_data = dict(attachment.connection_info.data), dict(theirs.connection_info.data)
        start = _start(checks.volume_file(topology, volume), payload.stat().st_size)
        attempts = agent.call(intruder.nbd_attempts, data, other_data, payload)
        assert attempts and not any(attempts.values()), attempts
        assert _start(checks.volume_file(topology, volume), len(start)) == start
        # The secret is all that stood in the way: with it, the intruder's host gets in.
        assert agent.call(intruder.nbd_answers, data)
    finally:
        _detach(victim, attachment.id)
        _detach(other, theirs.id)
    assert not agent.call(intruder.nbd_answers, data), "the detached attachment's secret still opens its export"
    for client, made in ((victim, volume), (other, neighbour)):
        client.done(client.delete(made.id), volume_pb2.Volume())


def test_the_public_gateway_serves_the_intruder_with_a_valid_token(topology, outsider):
    _, agent = outsider
    client = checks.client(topology, agent, "intruder-with-a-token")
    volume = client.create_available(1)
    listed = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest())
    assert [v.id for v in listed.volumes] == [volume.id]
    client.done(client.delete(volume.id), volume_pb2.Volume())
