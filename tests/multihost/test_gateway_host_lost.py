"""A gateway host lost: ctl-1 (a gateway and a scheduler) is cut off while
the CLI on compute-1, configured with both gateways, creates, lists and
deletes volumes. Every command succeeds through ctl-2, and nothing is done
twice: one volume per create, each delete done once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ember.v1 import volume_pb2
from tests.multihost import checks
from tests.multihost.topology import Topology

PROJECT = "gateway-lost"
CREATES = 4


def ember(topology: Topology, *args: str) -> subprocess.CompletedProcess:
    """The CLI on compute-1 with ctl-1's gateway first in EMBER_URL."""
    env = {**os.environ, "EMBER_URL": ",".join(topology.gateways), "EMBER_TOKEN": topology.token(PROJECT)}
    return topology["compute-1"].run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env,
                                     timeout=180)


def succeeded(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"{done.args[4:]} failed:\n{done.stderr}"
    return done.stdout


def test_a_client_with_both_gateways_carries_on_through_ctl_2(topology, compute):
    client = checks.client(topology, compute, PROJECT, gateway=1)
    before = client.create_available(1, name="before")
    data = checks.write_from_compute(topology, client, before.id)

    topology["ctl-1"].cut()
    try:
        made = [json.loads(succeeded(ember(topology, "volume", "create", "--size", "1", "--name", f"during-{i}",
                                           "--wait", "--json")))
                for i in range(CREATES)]
        listed = json.loads(succeeded(ember(topology, "volume", "list", "--json")))
        assert {v["name"] for v in listed} >= {"before", *(f"during-{i}" for i in range(CREATES))}
        for volume in made[:2]:
            succeeded(ember(topology, "volume", "delete", volume["id"]))
    finally:
        topology["ctl-1"].reconnect()

    found = checks.settled(client)["volume"]
    names = sorted(v.name for v in found)
    assert names == sorted(["before", *(f"during-{i}" for i in range(2, CREATES))]), names
    assert {v.status for v in found} == {volume_pb2.VOLUME_STATUS_AVAILABLE}
    assert checks.starts_with(checks.volume_file(topology, before), data)
    # ctl-1 is back in service: later tests call through it.
    back = checks.client(topology, compute, PROJECT, gateway=0)
    checks.wait_for(lambda: back.call(back.volumes.ListVolumes, volume_pb2.ListVolumesRequest()), lambda _: True,
                    60, "ctl-1's gateway did not answer again")
    checks.assert_consistent(topology, compute)
