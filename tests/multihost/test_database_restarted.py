"""The database host restarted: PostgreSQL on db-1 stops as a crash would
and starts again a few seconds later, during a burst of creates and while
more calls arrive. A call made meanwhile is refused with UNAVAILABLE or
succeeds (writes wait for the database to come back); every create that
was answered finishes, once; nothing is stuck afterwards."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from ember.v1 import volume_pb2
from tests.multihost import bursts, checks
from tests.multihost.topology import Topology

BURST = 40
HALT_AFTER = 10
# Creates and reads sent while the database is down.
MEANWHILE = 10
DOWN_FOR = 4.0
# A deadline longer than the outage: a create sent while the database is
# down waits for it (the writer runs its transaction again once it is back),
# and a caller that gave up sooner could not tell what became of it.
DEADLINE = 60.0


def read(client, volume_id: str) -> str:
    """What a read made while the database is down came to: OK or the refusal."""
    try:
        client.get(volume_id)
        client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=10))
        return "OK"
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"


class Restart:
    """Stops PostgreSQL, sends calls while it is down, starts it again."""

    def __init__(self, topology: Topology, client, volume_id: str):
        self.topology, self.client, self.volume_id = topology, client, volume_id
        self.down = False
        self.creates: dict = {}
        self.reads: list[str] = []

    def __call__(self) -> None:
        self.topology.postgres.halt()
        self.down = True
        with ThreadPoolExecutor(MEANWHILE + 2) as pool:
            creates = pool.submit(bursts.burst, self.client, MEANWHILE, "meanwhile", lambda: None, 0,
                                  timeout=DEADLINE)
            reads = [pool.submit(read, self.client, self.volume_id) for _ in range(2)]
            time.sleep(DOWN_FOR)
            self.mend()
            self.creates = creates.result()
            self.reads = [r.result() for r in reads]

    def mend(self) -> None:
        if self.down:
            self.topology.postgres.resume()
            self.down = False


def test_the_database_host_restarted_mid_burst(topology, compute):
    client = checks.client(topology, compute, "db-restart")
    before = client.create_available(1, name="before")
    data = checks.write_from_compute(topology, client, before.id)

    restart = Restart(topology, client, before.id)
    try:
        outcomes = bursts.burst(client, BURST, "burst", restart, HALT_AFTER, timeout=DEADLINE)
    finally:
        restart.mend()
    outcomes.update(restart.creates)
    refusals = [*bursts.refused(outcomes).values(), *(r for r in restart.reads if r != "OK")]
    assert all(why.startswith("UNAVAILABLE:") for why in refusals), refusals

    # A create refused while its commit was on the way may have been made:
    # its caller sends it again with its request_id, and gets that one back
    # or has it made now.
    for name in bursts.refused(outcomes):
        outcomes[name] = bursts.create(client, name, bursts.request_id_of(name), checks.SETTLE, DEADLINE)
    assert not bursts.refused(outcomes), bursts.refused(outcomes)
    for name, op in bursts.finished(client, outcomes).items():
        assert not op.HasField("error"), (name, op, topology.logs())
    volumes = bursts.volumes_by_name(client)
    assert sorted(volumes) == sorted(["before", *outcomes]), "a create lost, or one nobody asked for"
    assert all(len(found) == 1 for found in volumes.values()), "a create was made twice"
    assert {v[0].status for v in volumes.values()} == {volume_pb2.VOLUME_STATUS_AVAILABLE}
    assert all(p.running for p in topology.processes.values()), topology.logs()

    checks.settled(client)
    checks.assert_consistent(topology, compute)
    assert checks.starts_with(checks.volume_file(topology, before), data)
