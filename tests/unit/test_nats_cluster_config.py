"""What a NATS cluster needs from Ember without running one: node
configurations nats-server accepts, the replicas setting handed to the
services, streams brought to the configured replicas, patience while the
cluster elects a leader, and a registry that does not age while the bus is
silent."""

import asyncio
import dataclasses
import subprocess
import sys
import time
from types import SimpleNamespace

import nats.js.errors
import pytest
from nats.js.api import Header, StatusCode, StreamConfig, StreamInfo

from ember import bus, kv, launcher, nats_access, pki


def test_every_node_gets_its_name_store_routes_and_locks_and_nats_server_accepts_it(tmp_path):
    tls = pki.ensure_local(tmp_path)
    access = nats_access.Access(tmp_path / "nats-users")
    access.add(nats_access.User("volume", "host-a"))
    access.write(tmp_path / "nats-access.conf", tls)
    route = access.route(tls)
    cluster_ports = [6301, 6302, 6303]
    for index, port in enumerate([4301, 4302, 4303]):
        store = tmp_path / f"node-{index + 1}"
        routes = [f"127.0.0.1:{p}" for p in cluster_ports]
        conf = launcher.nats_node_conf(index, f"127.0.0.1:{port}", f"127.0.0.1:{cluster_ports[index]}", routes, store,
                                       "nats-access.conf", route)
        assert f'server_name: "nats-{index + 1}"' in conf and f'listen: "127.0.0.1:{port}"' in conf
        assert "sync_interval: always" in conf and str(store) in conf
        assert all(f"nats-route://route:{route.password}@127.0.0.1:{p}" in conf for p in cluster_ports)
        # Routes only from nodes with the route password and a certificate of the CA.
        assert f'authorization {{"user": "route", "password": "{route.password}"}}' in conf
        assert '"verify": true' in conf and 'include "nats-access.conf"' in conf
        path = tmp_path / f"nats-{index + 1}.conf"
        path.write_text(conf)
        checked = subprocess.run([launcher.nats_server_binary(), "-t", "-c", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


class Node:
    def __init__(self, port: int):
        self.address = f"nats://127.0.0.1:{port}"


def test_services_of_a_cluster_are_told_every_node_and_three_replicas(tmp_path):
    mesh = launcher.Mesh(tmp_path, {"EMBER_NATS_REPLICAS": "1"})
    mesh.nats_nodes = [Node(4301)]
    mesh.nats = mesh.nats_nodes[0]
    assert mesh.env()["EMBER_NATS_REPLICAS"] == "1"
    mesh.nats_nodes = [Node(p) for p in (4301, 4302, 4303, 4304, 4305)]
    mesh.nats = launcher.NatsCluster(mesh.nats_nodes)
    env = mesh.env()
    assert env["EMBER_NATS_URL"] == ",".join(f"nats://127.0.0.1:{p}" for p in (4301, 4302, 4303, 4304, 4305))
    assert env["EMBER_NATS_REPLICAS"] == "3"


def test_ember_up_refuses_a_two_node_cluster(tmp_path):
    up = subprocess.run(
        [sys.executable, "-m", "cli", "up", "--data-dir", str(tmp_path), "--nats-cluster", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert up.returncode == 1 and "1 or at least 3 nodes" in up.stderr and "Traceback" not in up.stderr


class FakeJetStream:
    """Just enough of a JetStream context to declare one stream."""

    def __init__(self, existing: StreamConfig | None = None, unavailable: int = 0):
        self.existing, self.unavailable, self.updated = existing, unavailable, []

    async def stream_info(self, name):
        if self.unavailable:
            self.unavailable -= 1
            raise nats.js.errors.ServiceUnavailableError
        if self.existing is None:
            raise nats.js.errors.NotFoundError
        return StreamInfo(config=self.existing, state=None)

    async def add_stream(self, config):
        self.existing = config
        return StreamInfo(config=config, state=None)

    async def update_stream(self, config):
        self.updated.append(config)
        return await self.add_stream(config)


async def test_an_existing_stream_is_brought_to_the_configured_replicas_keeping_its_settings():
    js = FakeJetStream(StreamConfig(name="S", subjects=["s.>"], max_age=60.0, num_replicas=1))
    info = await bus.ensure_stream(js, StreamConfig(name="S", subjects=["other"], num_replicas=3))
    assert [(c.num_replicas, c.subjects, c.max_age) for c in js.updated] == [(3, ["s.>"], 60.0)]
    assert info.config.num_replicas == 3
    await bus.ensure_stream(js, StreamConfig(name="S", num_replicas=3))
    assert len(js.updated) == 1


async def test_a_missing_stream_is_created_once_the_cluster_answers():
    js = FakeJetStream(unavailable=2)
    config = StreamConfig(name="S", num_replicas=3)
    info = await bus.patiently("stream S", lambda: bus.ensure_stream(js, config), patience=10)
    assert info.config == config and js.updated == []


async def test_patience_runs_out():
    js = FakeJetStream(unavailable=1000)
    with pytest.raises(nats.js.errors.ServiceUnavailableError):
        await bus.patiently("stream S", lambda: bus.ensure_stream(js, StreamConfig(name="S")), patience=0.6)


@dataclasses.dataclass
class Entry:
    key: str
    value: bytes
    revision: int = 0
    operation: str | None = None


class Bucket:
    """A bucket whose watchers replay its entries, then wait for more."""

    def __init__(self, entries):
        self.entries = list(entries)
        self.watches = 0

    async def status(self):
        last_seq = max((e.revision for e in self.entries), default=0)
        return SimpleNamespace(bucket="b", stream_info=SimpleNamespace(state=SimpleNamespace(last_seq=last_seq)))

    async def watchall(self):
        self.watches += 1
        return Watcher([*self.entries, None])


class Watcher:
    def __init__(self, entries):
        self.entries = entries

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.entries:
            return self.entries.pop(0)
        await asyncio.Event().wait()

    async def stop(self):
        pass


async def mirror_of(*entries, check_every: float = 2.0) -> kv.KvMirror:
    mirror = kv.KvMirror(Bucket(entries), check_every)
    await mirror.start()
    return mirror


def beat(key: str, ts: float, revision: int = 0) -> Entry:
    return Entry(key, f'{{"address": "{key}", "ts": {ts}}}'.encode(), revision)


async def test_a_silent_bus_ages_nobody_but_a_silent_service_ages():
    long_ago = time.time() - 600
    # Nothing arrived for ten minutes: the bus was cut off, not every service dead.
    cut_off = await mirror_of(beat("volume.a", long_ago), beat("volume.b", long_ago + 1), Entry("junk", b"[1]"))
    assert sorted(cut_off.fresh("volume.", 6)) == ["volume.a", "volume.b"]
    # The gateway's own heartbeat arrives, volume.a's does not.
    live = await mirror_of(beat("volume.a", long_ago), beat("gateway.g", time.time()))
    assert live.fresh("volume.", 6) == {} and list(live.fresh("gateway.", 6)) == ["gateway.g"]
    await asyncio.gather(cut_off.stop(), live.stop())


async def test_a_mirror_that_missed_updates_watches_the_bucket_anew():
    mirror = await mirror_of(beat("volume.a", time.time(), revision=1), check_every=0.05)
    try:
        await asyncio.sleep(0.3)
        assert mirror.kv.watches == 1, "nothing was missed: no need to watch again"
        # Put while the watcher's consumer was gone with its server: only a new watcher sees it.
        mirror.kv.entries.append(beat("volume.b", time.time(), revision=2))
        for _ in range(100):
            if "volume.b" in mirror.entries:
                break
            await asyncio.sleep(0.05)
        assert sorted(mirror.fresh("volume.", 6)) == ["volume.a", "volume.b"] and mirror.kv.watches == 2
    finally:
        await mirror.stop()


async def swallow_cancellation(delay: float) -> None:
    """What Python 3.11's wait_for does to a cancellation that arrives as
    the awaited reply does: the caller never sees it."""
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        pass


class SlowBucket:
    async def put(self, key, value):
        await swallow_cancellation(0.2)

    async def delete(self, key):
        pass


async def test_a_heartbeat_stops_even_when_its_cancellation_is_lost():
    beat = kv.Heartbeat(SlowBucket(), "k", lambda: asyncio.sleep(0, {}), interval=0.01)
    await beat.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(beat.stop(), 2)


class SlowJetStream:
    async def pull_subscribe(self, subject, durable, stream, config):
        return self


class SlowServer:
    """Answers every pull with "no messages", after a while in which it
    swallows a cancellation, as Python 3.11's wait_for can."""

    is_closed = True
    jetstream = SlowJetStream

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject, cb):
        self.deliver = cb

    async def publish(self, subject, payload, reply=""):
        await swallow_cancellation(0.2)
        await self.deliver(SimpleNamespace(headers={Header.STATUS: StatusCode.NO_MESSAGES}))


async def test_a_consumer_stops_even_when_its_cancellation_is_lost():
    consumer = bus.Bus(SlowServer())
    await consumer.consume("s", "d", handler=None, ack_wait=1, max_deliver=1)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(consumer.close(), 2)
