"""A storage host cut off: store-1's link goes down during a burst of creates
that either zone may take. Once its reports are stale the scheduler places
nothing there; every create ends available or in error with a reason; once
the link is back, what store-1 had been given finishes, its volume service
works again, and nothing was done twice."""

from __future__ import annotations

import time

from ember.v1 import scheduler_pb2, volume_pb2
from tests.multihost import bursts, checks
from tests.multihost.topology import MULTIHOST_SETTINGS, Topology

BURST = 50
CUT_AFTER = 15
# Creates sent once the scheduler and the gateways have given store-1 up.
LATER = 8
# A create the gateway sent to the cut host times out; it is sent again
# with its request_id until this many seconds have passed.
PATIENCE = 90.0
GIVEN_UP_AFTER = max(float(MULTIHOST_SETTINGS["EMBER_SERVICE_DOWN_AFTER"]),
                     float(MULTIHOST_SETTINGS["EMBER_REGISTRY_TTL"])) + 1.0
SETTLED = {volume_pb2.VOLUME_STATUS_AVAILABLE, volume_pb2.VOLUME_STATUS_ERROR}


def store_1_stale(admin) -> set[bool]:
    """Whether store-1's pool is stale, as each scheduler asked says (calls
    go round the schedulers, so a few of them reach both)."""
    answers = set()
    for _ in range(4):
        pools = admin.call(admin.scheduler.ListPools, scheduler_pb2.ListPoolsRequest()).pools
        answers.update(p.stale for p in pools if p.host == "store-1")
    return answers


def wait_for_store_1(admin, stale: bool) -> None:
    checks.wait_for(lambda: store_1_stale(admin), lambda found: found == {stale},
                    what=f"store-1's pools not {'stale' if stale else 'fresh'}")


def burst_while_cut(topology: Topology, client, admin) -> tuple[dict, dict]:
    """The burst with store-1 cut after CUT_AFTER answers, then LATER creates
    once store-1 is given up, each done while the link is still down.
    Returns both bursts' outcomes once store-1 is back and reporting."""
    store = topology["store-1"]
    cut_at: list[float] = []

    def cut() -> None:
        cut_at.append(time.time())
        store.cut()

    try:
        outcomes = bursts.burst(client, BURST, "burst", cut, CUT_AFTER, PATIENCE)
        assert not bursts.refused(outcomes), bursts.refused(outcomes)
        # Reports are stamped by store-1 before they leave it, so from here
        # on no scheduler can think store-1 fresh, nor a gateway its service.
        time.sleep(max(0.0, cut_at[0] + GIVEN_UP_AFTER - time.time()))
        wait_for_store_1(admin, stale=True)
        later = bursts.burst(client, LATER, "later", lambda: None, 0, PATIENCE)
        assert not bursts.refused(later), bursts.refused(later)
        for name, op in bursts.finished(client, later).items():
            assert not op.HasField("error"), (name, op, topology.logs())
        return outcomes, later
    finally:
        store.reconnect()
        wait_for_store_1(admin, stale=False)


def assert_ended_cleanly(volumes: dict[str, list[volume_pb2.Volume]], ops: dict) -> None:
    """One volume per accepted create, available or in error with a reason,
    and its operation ended the same way."""
    for name, op in ops.items():
        assert len(volumes.get(name, [])) == 1, (f"{name}: a create was lost or made twice", volumes.get(name))
        volume = volumes[name][0]
        assert volume.status in SETTLED, (name, volume)
        if volume.status == volume_pb2.VOLUME_STATUS_ERROR:
            assert volume.status_detail and op.HasField("error") and op.error.message, (name, volume, op)
        else:
            assert not op.HasField("error"), (name, volume, op)


def test_a_storage_host_cut_off_mid_burst(topology, compute):
    client = checks.client(topology, compute, "store-cut")
    admin = compute.client(topology.gateways[0], topology.token("store-cut-admin", admin=True))
    before = client.create_available(1, name="before", availability_zone="east")
    assert before.host.startswith("store-1@"), before
    data = checks.write_from_compute(topology, client, before.id)

    volume_service = topology.process("store-1", "volume")
    outcomes, later = burst_while_cut(topology, client, admin)
    log_since_back = len(volume_service.log())
    ops = {**bursts.finished(client, outcomes), **bursts.finished(client, later)}
    checks.settled(client)
    volumes = bursts.volumes_by_name(client)
    assert_ended_cleanly(volumes, ops)
    # Once store-1 was given up, every create went to store-2.
    assert all(volumes[name][0].host.startswith("store-2@") for name in later), volumes
    assert sorted(volumes) == sorted(["before", *outcomes, *later]), "a volume nobody asked for"
    # A volume gets its host when it is made: what store-1 was given before
    # or just after the cut, it made once the link was back.
    on_store_1 = [v[0] for v in volumes.values() if v[0].host.startswith("store-1@")]
    assert all(v.status == volume_pb2.VOLUME_STATUS_AVAILABLE for v in on_store_1), on_store_1

    # store-1 is back, and its volume service takes work.
    east = client.create_available(1, name="after", availability_zone="east")
    assert east.host.startswith("store-1@"), east
    # The same process, back on NATS: no restart mended it. (It logs a task
    # once acked, a moment after the operation is done.)
    assert volume_service.running and topology.process("store-1", "volume") is volume_service
    checks.wait_for(lambda: volume_service.log()[log_since_back:],
                    lambda log: "task ember.tasks.volume.store-1.create done" in log, 30,
                    "store-1's volume service did not log a create task done since it came back")
    admin.close()

    checks.settled(client)
    checks.assert_consistent(topology, compute)
    assert checks.starts_with(checks.volume_file(topology, before), data)
