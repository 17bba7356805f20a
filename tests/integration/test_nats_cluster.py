"""Ember on a 3-node NATS cluster: streams and KV buckets at 3 replicas, and
a node killed (like kill -9) during a burst of creates loses no request
and leaves nothing stuck once it is back; `ember up --nats-cluster 3`
runs such a cluster and outlives one of its nodes.

SQLite only (Cluster(tmp_path), not the fresh_cluster fixture): what this
proves is about the bus, and a second run on PostgreSQL would only add
half a minute to the suite."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import grpc
import nats
import nats.errors

from ember import subjects
from ember.v1 import volume_pb2
from tests.harness import Cluster
from tests.multihost import bursts

BURST = 40
KILL_AFTER = 10
SETTLE = 60.0
STREAMS = (
    subjects.TASKS_STREAM, subjects.EVENTS_STREAM,
    f"KV_{subjects.REGISTRY_BUCKET}", f"KV_{subjects.CAPABILITIES_BUCKET}",
)


async def _stream_infos(servers: str, options: dict) -> dict:
    nc = await nats.connect(servers=servers.split(","), **options)
    try:
        js = nc.jetstream()
        return {name: await js.stream_info(name) for name in STREAMS}
    finally:
        await nc.close()


def stream_infos(cluster: Cluster) -> dict:
    return asyncio.run(_stream_infos(cluster.nats.address, cluster.nats_options()))


def wait_until_replicated(cluster: Cluster, timeout: float = SETTLE) -> dict:
    """Stream infos once every stream has a leader and both followers current."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            infos = stream_infos(cluster)
            if all(
                info.cluster.leader and len(info.cluster.replicas or []) == 2
                and all(r.current and not r.offline for r in info.cluster.replicas)
                for info in infos.values()
            ):
                return infos
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            infos = exc
        assert time.monotonic() < deadline, f"streams not replicated again: {infos}"
        time.sleep(0.5)


def test_killing_the_task_stream_leader_mid_burst_loses_no_create(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_nats(nodes=3)
        cluster.start_all()
        infos = stream_infos(cluster)
        assert {name: info.config.num_replicas for name, info in infos.items()} == dict.fromkeys(STREAMS, 3)

        # The leader of the task stream: its loss forces an election while
        # tasks are being published and fetched.
        leader = infos[subjects.TASKS_STREAM].cluster.leader
        victim = [node.name for node in cluster.nats_nodes].index(leader)
        client = cluster.client("nats-cluster")
        # BURST named creates at once; node `victim` is killed once KILL_AFTER
        # of them have answered, while the rest are in flight.
        results = bursts.burst(client, BURST, "burst", cluster.nats_nodes[victim].kill, KILL_AFTER)
        cluster.restart_nats_node(victim)

        refused = {name: o.code() for name, o in results.items() if isinstance(o, grpc.RpcError)}
        assert set(refused.values()) <= {grpc.StatusCode.UNAVAILABLE}, refused
        accepted = {name: op for name, op in results.items() if name not in refused}
        for name, op in accepted.items():
            op = client.wait(op, timeout=SETTLE)
            assert op.done and not op.HasField("error"), (name, op, cluster.logs())

        volumes = client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes
        assert sorted(v.name for v in volumes) == sorted(accepted), "a create was lost or ran twice"
        assert {v.status for v in volumes} == {volume_pb2.VOLUME_STATUS_AVAILABLE}

        infos = wait_until_replicated(cluster)
        assert {info.config.num_replicas for info in infos.values()} == {3}
        client.close()
    finally:
        cluster.stop()


def free_ports_for_a_cluster(nodes: int = 3) -> int:
    """A first client port such that `nodes` client ports from it and their
    cluster ports (2000 above) are all free."""
    for _ in range(100):
        first = random.randrange(20000, 40000)
        wanted = [first + i for i in range(nodes)] + [first + 2000 + i for i in range(nodes)]
        try:
            for port in wanted:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports found")


def cli(data_dir, gateway: str, token: str):
    """The CLI, run against an `ember up` started with `data_dir`."""
    env = dict(os.environ, EMBER_URL=gateway, EMBER_DATA_DIR=str(data_dir), EMBER_TOKEN=token)
    env.pop("EMBER_AUTH_SECRET", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env,
                              timeout=120)
    return run


def test_ember_up_runs_a_three_node_cluster_that_outlives_a_node(tmp_path):
    port = free_ports_for_a_cluster()
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--data-dir", str(tmp_path), "--nats-port", str(port),
         "--nats-cluster", "3", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        for line in up.stdout:
            lines.append(line.split())
            if line.startswith("Ember is up"):
                break
        assert [words[0] for words in lines[:-1]] == [
            "nats-1", "nats-2", "nats-3", "scheduler", "volume", "backup", "api_gateway",
        ], lines
        assert [words[1] for words in lines[:3]] == [f"nats://127.0.0.1:{port + i}" for i in range(3)]
        node = subprocess.run(["pgrep", "-f", str(tmp_path / "nats-2.conf")], capture_output=True, text=True)
        os.kill(int(node.stdout.split()[0]), signal.SIGKILL)
        assert "nats-2 exited; the other NATS nodes carry on" in up.stderr.readline()
        assert up.poll() is None

        # With nats-2 gone, a create and a delete still go from the gateway
        # through the task stream to the scheduler and the volume service,
        # and their events come back: all on nats-1 and nats-3.
        gateway = lines[-2][1]
        ember = cli(tmp_path, gateway, "")
        token = ember("token", "create", "--project", "outlives")
        assert token.returncode == 0, token.stderr
        ember = cli(tmp_path, gateway, token.stdout.strip())
        created = ember("volume", "create", "--size", "1", "--wait", "--json")
        assert created.returncode == 0, created.stderr
        volume = json.loads(created.stdout)
        assert volume["status"] == "VOLUME_STATUS_AVAILABLE"
        deleted = ember("volume", "delete", volume["id"], "--wait")
        assert deleted.returncode == 0 and "deleted" in deleted.stdout, deleted.stderr
        assert up.poll() is None
    finally:
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0 and "Ember stopped." in out and "was killed" not in err, err
