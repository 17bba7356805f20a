"""A NATS host lost: the host of the task stream's leader is cut off (a
partition, not a crash) during a burst of creates. The other two nodes elect
a leader and carry on: every create that was answered finishes while the
host is still away, none is lost or made twice, and the only refusal a
caller may see is UNAVAILABLE. Once the link is back, every stream has its
three replicas current again."""

from __future__ import annotations

import asyncio
import time

import nats
import nats.errors

from ember import subjects
from ember.v1 import volume_pb2
from tests.multihost import bursts, checks
from tests.multihost.topology import MULTIHOST_SETTINGS, Topology, nats_url

BURST = 40
CUT_AFTER = 10
# Creates sent once every process has had time to notice its NATS server is
# gone (a gateway whose registry mirror stalled refuses calls after the
# registry's ttl): sent again with their request_id for this long at most.
DURING = 10
NOTICED_AFTER = float(MULTIHOST_SETTINGS["EMBER_REGISTRY_TTL"]) + 4.0
PATIENCE = 30.0
STREAMS = (
    subjects.TASKS_STREAM, subjects.EVENTS_STREAM,
    f"KV_{subjects.REGISTRY_BUCKET}", f"KV_{subjects.CAPABILITIES_BUCKET}",
)


async def _stream_infos(options: dict) -> dict:
    nc = await nats.connect(servers=nats_url().split(","), connect_timeout=2, max_reconnect_attempts=1, **options)
    try:
        js = nc.jetstream(timeout=5)
        return {name: await js.stream_info(name) for name in STREAMS}
    finally:
        await nc.close()


def stream_infos(topology: Topology) -> dict:
    """Asked from ctl-1, across the bridge (the test's own namespace has no route there)."""
    options = topology.nats_options("ctl-1")
    return topology["ctl-1"].inside(lambda: asyncio.run(_stream_infos(options)))


def replicated(infos: dict) -> bool:
    return all(
        info.cluster.leader and len(info.cluster.replicas or []) == 2
        and all(r.current and not r.offline for r in info.cluster.replicas)
        for info in infos.values()
    )


def wait_until_replicated(topology: Topology, timeout: float = checks.SETTLE) -> dict:
    """Stream infos once every stream has a leader and both followers current."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            infos = stream_infos(topology)
            if replicated(infos):
                return infos
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            infos = exc
        assert time.monotonic() < deadline, f"streams not replicated again: {infos}"
        time.sleep(0.5)


def test_a_nats_host_cut_off_mid_burst(topology, compute):
    client = checks.client(topology, compute, "nats-cut")
    before = client.create_available(1, name="before")
    data = checks.write_from_compute(topology, client, before.id)
    infos = wait_until_replicated(topology)
    assert {info.config.num_replicas for info in infos.values()} == {3}
    # The leader of the task stream: its loss forces an election while tasks
    # are being published and fetched.
    victim = topology[infos[subjects.TASKS_STREAM].cluster.leader]

    cut_at: list[float] = []

    def cut() -> None:
        cut_at.append(time.monotonic())
        victim.cut()

    try:
        outcomes = bursts.burst(client, BURST, "burst", cut, CUT_AFTER)
        refused = bursts.refused(outcomes)
        assert all(why.startswith("UNAVAILABLE:") for why in refused.values()), refused
        accepted = [name for name in outcomes if name not in refused]
        # With the host still away, the two other nodes carry Ember.
        time.sleep(max(0.0, cut_at[0] + NOTICED_AFTER - time.monotonic()))
        during = bursts.burst(client, DURING, "during", lambda: None, 0, PATIENCE)
        assert not bursts.refused(during), (bursts.refused(during), topology.logs())
        ops = {**bursts.finished(client, outcomes), **bursts.finished(client, during)}
        for name, op in ops.items():
            assert not op.HasField("error"), (name, op, topology.logs())
        volumes = bursts.volumes_by_name(client)
        assert sorted(volumes) == sorted(["before", *accepted, *during]), "a create lost, or one nobody asked for"
        assert all(len(found) == 1 for found in volumes.values()), "a create was made twice"
        assert {v[0].status for v in volumes.values()} == {volume_pb2.VOLUME_STATUS_AVAILABLE}
    finally:
        victim.reconnect()
        # Later tests need all three nodes: every stream has its replicas current again.
        infos = wait_until_replicated(topology)
    assert {info.config.num_replicas for info in infos.values()} == {3}
    checks.settled(client)
    checks.assert_consistent(topology, compute)
    assert checks.starts_with(checks.volume_file(topology, before), data)
