"""What a test reads off a live Ember besides its gRPC answers: the events
on its NATS stream, and the `ember` command's output."""

import asyncio
import json
import os
import subprocess
import sys

import nats
from nats.js.api import DeliverPolicy

from ember import subjects

EMBER = [sys.executable, "-m", "cli"]


def events_of(cluster, resource: str, resource_id: str) -> list[dict]:
    """Every event of the resource so far, oldest first."""
    async def fetch():
        nc = await nats.connect(cluster.nats.address, **cluster.nats_options())
        try:
            sub = await nc.jetstream().subscribe(subjects.event(resource, resource_id), ordered_consumer=True,
                                                 deliver_policy=DeliverPolicy.ALL)
            found = []
            while True:
                try:
                    found.append(json.loads((await sub.next_msg(timeout=1)).data))
                except TimeoutError:
                    return found
        finally:
            await nc.close()

    return asyncio.run(fetch())


def ember(cluster, *args: str, admin: bool = True) -> subprocess.CompletedProcess:
    """`ember ARGS` against the cluster's gateway, with a token of project ops."""
    env = dict(os.environ, EMBER_URL=cluster.gateway, EMBER_TOKEN=cluster.token("ops", admin=admin))
    return subprocess.run([*EMBER, *args], env=env, capture_output=True, text=True, timeout=60)
