"""The benchmarks over the bridge: the reference topology of tests/multihost
(each host a network namespace of this machine), measured from compute-1.

The control-plane client is `python -m bench.control_plane --gateway ...`,
the loopback run's own code, run as a process on compute-1 against the
gateways of ctl-1 and ctl-2. The data path reads (and writes) a volume of
store-1 with nbdcopy on compute-1 through its NBD export, against the same
nbdcopy on the volume's file, run on store-1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator

from bench import control_plane, data_path
from ember import nbd_psk
from ember.quota import RESOURCES
from ember.v1 import attachment_pb2, quota_pb2, volume_pb2
from tests.harness import Cluster
from tests.multihost.checks import volume_file
from tests.multihost.remote import Agent
from tests.multihost.topology import MULTIHOST_SETTINGS, Topology
from tests.postgres import Postgres

REPO = pathlib.Path(__file__).resolve().parents[1]
PROJECT = "bench"
TARGET_RATIO = 0.8
MIB = 1024 * 1024
# The loopback run has no quotas; the topology's would stop 32 clients.
UNLIMITED = {resource: -1 for resource in RESOURCES}


@contextlib.contextmanager
def topology() -> Iterator[Topology]:
    """The reference topology, started in a temporary directory, and gone afterwards."""
    if os.geteuid() != 0:
        raise SystemExit("the multi-host benchmarks build hosts as network namespaces, which needs root")
    with tempfile.TemporaryDirectory(prefix="ember-bench-hosts-") as tmp:
        hosts = Topology(pathlib.Path(tmp))
        try:
            yield hosts.start()
        finally:
            hosts.close()


@contextlib.contextmanager
def agent(hosts: Topology, name: str = "compute-1") -> Iterator[Agent]:
    remote = hosts.agent(name)
    try:
        yield remote
    finally:
        remote.close()


def control_plane_figures(hosts: Topology, sequential: int, seconds: float, clients: tuple[int, ...],
                          trips: int) -> dict:
    """bench.control_plane's figures, its client on compute-1, each of its
    clients in turn on ctl-1's and ctl-2's gateway."""
    with agent(hosts) as compute:
        admin = compute.client(hosts.gateways[0], hosts.token(PROJECT, admin=True))
        admin.call(admin.quotas.UpdateQuota, quota_pb2.UpdateQuotaRequest(project_id=PROJECT, limits=UNLIMITED))
    out = hosts["compute-1"].data_dir / "control_plane.json"
    argv = [sys.executable, "-m", "bench.control_plane", "--gateway", ",".join(hosts.gateways),
            "--token", hosts.token(PROJECT), "--sequential", str(sequential), "--seconds", str(seconds),
            "--clients", ",".join(str(count) for count in clients), "--round-trips", str(trips), "--json", str(out)]
    done = hosts["compute-1"].run(argv, cwd=REPO, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the control-plane client on compute-1 failed:\n{done.stderr[-3000:]}")
    figures = json.loads(out.read_text())
    figures["gateways"] = hosts.gateways
    return figures


def same_services(sequential: int, seconds: float, clients: tuple[int, ...]) -> dict:
    """bench.control_plane's sequential and concurrent creates through an
    Ember on loopback with the topology's database, NATS cluster, settings
    and two schedulers (PostgreSQL, three nodes at 3 replicas; one of each
    other service): what the deployment costs apart from the bridge."""
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        postgres = Postgres().start()
        cluster = Cluster(pathlib.Path(tmp), database=postgres,
                          EMBER_SERVICE_DOWN_AFTER=MULTIHOST_SETTINGS["EMBER_SERVICE_DOWN_AFTER"])
        try:
            cluster.start_nats(nodes=3)
            cluster.start_all()
            # Schedulers compete for the same tasks, which one alone never does.
            cluster.start("scheduler", name="scheduler-2", EMBER_LISTEN="127.0.0.1:0")
            cluster.set_quota(PROJECT, **UNLIMITED)
            return asyncio.run(control_plane.measure([cluster.gateway], cluster.token(PROJECT), sequential, seconds,
                                                     list(clients), 0))
        finally:
            cluster.stop()
            postgres.stop()


def control_plane_both(sequential: int, seconds: float, clients: tuple[int, ...], trips: int) -> dict:
    """The loopback run, the topology's services on loopback, then the run
    over the bridge, and their create rates."""
    loopback = control_plane.measure_here(sequential, seconds, clients, trips)
    same = same_services(sequential, seconds, clients)
    with topology() as hosts:
        bridge = control_plane_figures(hosts, sequential, seconds, clients, trips)
    return {"loopback": loopback, "same_services": same, "multihost": bridge,
            "create_rates": create_rates(loopback, same, bridge)}


def control_plane_report(figures: dict) -> str:
    return "\n".join([
        "== loopback", control_plane.report(figures["loopback"]), "",
        "== over the bridge: the client on compute-1, its clients in turn on the gateways of ctl-1 and ctl-2",
        control_plane.report(figures["multihost"]), "",
        "== create rates", *rate_lines(figures["create_rates"]),
    ])


def create_rates(loopback: dict, same: dict, bridge: dict) -> dict:
    """Creates/s at each client count all three runs have: loopback, the
    same services on loopback and over the bridge, and the ratios of the
    last to the others; the verdict is against loopback at the most clients."""
    looped = {run["clients"]: run["creates_per_s"] for run in loopback["concurrent"]}
    alike = {run["clients"]: run["creates_per_s"] for run in same["concurrent"]}
    rows = [{"clients": run["clients"], "loopback": looped[run["clients"]], "same_services": alike[run["clients"]],
             "multihost": run["creates_per_s"], "ratio": run["creates_per_s"] / looped[run["clients"]],
             "bridge_ratio": run["creates_per_s"] / alike[run["clients"]]}
            for run in bridge["concurrent"] if run["clients"] in looped and run["clients"] in alike]
    return {"rows": rows, "target_ratio": TARGET_RATIO, "met": rows[-1]["ratio"] >= TARGET_RATIO}


def rate_lines(rates: dict) -> list[str]:
    """The create rates side by side; "same" is the topology's services on loopback."""
    lines = [f"{'clients':>7}  {'loopback/s':>10}  {'same/s':>7}  {'bridge/s':>8}  {'bridge/loopback':>15}"
             f"  {'bridge/same':>11}"]
    lines += [f"{row['clients']:>7}  {row['loopback']:>10.1f}  {row['same_services']:>7.1f}  "
              f"{row['multihost']:>8.1f}  {row['ratio']:>15.2f}  {row['bridge_ratio']:>11.2f}"
              for row in rates["rows"]]
    last = rates["rows"][-1]
    lines.append(f"\ntarget create rate over the bridge >= {TARGET_RATIO:.0%} of loopback's at {last['clients']} "
                 f"clients: {'met' if rates['met'] else 'MISSED'} ({last['ratio']:.2f}); against the same services "
                 f"on loopback (PostgreSQL, NATS at 3 replicas, two schedulers): {last['bridge_ratio']:.2f}")
    return lines


def _attach(client, size_gb: int) -> tuple[volume_pb2.Volume, str, dict[str, str]]:
    """(volume, attachment id, connection data) of a new volume in zone east
    (store-1), attached over NBD to compute-1."""
    volume = client.create_available(size_gb, name="data-path", availability_zone="east")
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="bench", connector=attachment_pb2.Connector(
            host="compute-1", transports=["nbd"])), timeout=60)
    client.call(client.volumes.CompleteAttachment,
                attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id), timeout=60)
    return volume, attachment.id, dict(attachment.connection_info.data)


def data_path_figures(hosts: Topology, size_gb: int, runs: int) -> dict:
    """bench.data_path's writes and reads by requests in flight: NBD from
    compute-1 across the bridge, direct on the volume's file on store-1."""
    size = size_gb * 1024 * MIB
    source = hosts.root / "source.bin"
    data_path.write_source(source, size)
    with agent(hosts) as compute:
        client = compute.client(hosts.gateways[0], hosts.token(PROJECT))
        volume, attachment_id, connection = _attach(client, size_gb)
        try:
            store, here = tuple(hosts["store-1"].command([])), tuple(hosts["compute-1"].command([]))
            on = {"write_direct": store, "read_direct": store, "write_nbd": here, "read_nbd": here}
            cold = data_path.drop_caches()
            with nbd_psk.libnbd_uri_of(connection) as uri:
                depths = data_path.levels(size, runs, str(source), str(volume_file(hosts, volume)), uri, cold, on)
        finally:
            client.call(client.volumes.DeleteAttachment,
                        attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id), timeout=60)
            source.unlink()
    queued = depths[str(data_path.QUEUED)]
    return {"size_mib": size // MIB, "runs": runs, "reads_cold": cold, "depths": depths,
            "queued": data_path.QUEUED, "target_ratio": TARGET_RATIO, "met": queued["read_ratio"] >= TARGET_RATIO}


def data_path_lines(figures: dict) -> list[str]:
    lines = [f"Sequential 1 MiB requests on a {figures['size_mib'] // 1024} GiB volume of store-1 (nbdcopy, 1 "
             "connection): NBD from compute-1 across the bridge, direct on the file on store-1", "",
             f"{'':6}  {'in flight':>9}  {'direct MiB/s':>12}  {'NBD MiB/s':>10}  {'NBD/direct':>10}"]
    for depth, level in figures["depths"].items():
        for kind in ("write", "read"):
            lines.append(f"{kind:6}  {depth:>9}  {level[f'{kind}_direct']:>12.0f}  {level[f'{kind}_nbd']:>10.0f}"
                         f"  {level[f'{kind}_ratio']:>10.2f}")
    if not figures["reads_cold"]:
        lines.append("\nthe page cache could not be dropped (needs root): the read figures above are warm")
    read = figures["depths"][str(figures["queued"])]["read_ratio"]
    lines.append(f"\ntarget NBD reads from compute-1 >= {TARGET_RATIO:.0%} of direct on store-1, "
                 f"{figures['queued']} requests in flight: {'met' if figures['met'] else 'MISSED'} ({read:.2f})")
    return lines
