"""Control-plane benchmark: create->available latency for sequential creates,
then creates/s and deletes/s with 1, 8 and 32 concurrent clients, then the
round trips of attach+detach, snapshot create+delete and a backup of an
empty volume, all through the gateway on loopback. Each long operation is
its call followed by WaitOperation, which returns when the resource's event
arrives (no polling). Every run is saved as JSON under bench/results/.

    python -m bench.control_plane                 # starts its own Ember
    python -m bench.control_plane --gateway HOST:PORT[,HOST:PORT...] --token TOKEN
    python -m bench.control_plane --multihost     # also over the bridge (bench/multihost.py)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from bench import jsonfile
from bench.local import local_ember
from ember import pool_names
from ember.v1 import (
    attachment_pb2, backup_pb2, backup_pb2_grpc, snapshot_pb2, snapshot_pb2_grpc, volume_pb2, volume_pb2_grpc,
)

TARGET_P50_MS = 20.0
TARGET_CREATES_PER_S = 200.0
TARGET_CLIENTS = 32
# Issue 18: mutual TLS inside may cost the create rate this share at most.
TARGET_TLS_RATE_LOSS = 0.15
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# For scale: Cinder's published create->available takes seconds.


class Gateway:
    def __init__(self, address: str, token: str):
        self.channel = grpc.aio.insecure_channel(address)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.volumes = volume_pb2_grpc.VolumeServiceStub(self.channel)
        self.snapshots = snapshot_pb2_grpc.SnapshotServiceStub(self.channel)
        self.backups = backup_pb2_grpc.BackupServiceStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)

    async def finish(self, op: operations_pb2.Operation) -> operations_pb2.Operation:
        while not op.done:
            request = operations_pb2.WaitOperationRequest(name=op.name, timeout=duration_pb2.Duration(seconds=30))
            op = await self.operations.WaitOperation(request, metadata=self.metadata, timeout=40)
        if op.HasField("error"):
            raise RuntimeError(f"{op.name} failed: {op.error.message}")
        return op

    async def create(self) -> tuple[str, float]:
        """(volume id, seconds from CreateVolume to available)."""
        started = time.perf_counter()
        op = await self.volumes.CreateVolume(
            volume_pb2.CreateVolumeRequest(size_gb=1, name="bench"), metadata=self.metadata, timeout=30
        )
        op = await self.finish(op)
        volume = volume_pb2.Volume()
        op.response.Unpack(volume)
        return volume.id, time.perf_counter() - started

    async def delete(self, volume_id: str) -> float:
        started = time.perf_counter()
        op = await self.volumes.DeleteVolume(
            volume_pb2.DeleteVolumeRequest(id=volume_id), metadata=self.metadata, timeout=30
        )
        await self.finish(op)
        return time.perf_counter() - started

    async def attach_detach(self, volume: volume_pb2.Volume) -> float:
        """A local attachment (the bench runs on the volume's host), completed, then removed."""
        connector = attachment_pb2.Connector(host=pool_names.host_of(volume.host), transports=["local"])

        started = time.perf_counter()
        attachment = await self.volumes.CreateAttachment(attachment_pb2.CreateAttachmentRequest(
            volume_id=volume.id, instance_id="bench", connector=connector), metadata=self.metadata, timeout=30)
        await self.volumes.CompleteAttachment(attachment_pb2.CompleteAttachmentRequest(
            attachment_id=attachment.id), metadata=self.metadata, timeout=30)
        await self.volumes.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(
            attachment_id=attachment.id), metadata=self.metadata, timeout=30)
        return time.perf_counter() - started

    async def snapshot_round_trip(self, volume_id: str) -> float:
        started = time.perf_counter()
        op = await self.finish(await self.snapshots.CreateSnapshot(snapshot_pb2.CreateSnapshotRequest(
            volume_id=volume_id, name="bench"), metadata=self.metadata, timeout=30))
        snapshot = snapshot_pb2.Snapshot()
        op.response.Unpack(snapshot)
        await self.finish(await self.snapshots.DeleteSnapshot(snapshot_pb2.DeleteSnapshotRequest(
            id=snapshot.id), metadata=self.metadata, timeout=30))
        return time.perf_counter() - started

    async def backup_empty(self, volume_id: str) -> tuple[str, float]:
        """(backup id, seconds from CreateBackup to available) of a never-written volume."""
        started = time.perf_counter()
        op = await self.finish(await self.backups.CreateBackup(backup_pb2.CreateBackupRequest(
            volume_id=volume_id), metadata=self.metadata, timeout=30))
        backup = backup_pb2.Backup()
        op.response.Unpack(backup)
        return backup.id, time.perf_counter() - started

    async def delete_backup(self, backup_id: str) -> None:
        await self.finish(await self.backups.DeleteBackup(backup_pb2.DeleteBackupRequest(id=backup_id),
                                                          metadata=self.metadata, timeout=30))


async def round_trips(gateway: Gateway, count: int) -> dict:
    """Latency of each workflow's round trip, `count` times, on one volume."""
    volume_id, _ = await gateway.create()
    volume = await gateway.volumes.GetVolume(volume_pb2.GetVolumeRequest(id=volume_id), metadata=gateway.metadata)
    timings: dict[str, list[float]] = {"attach_detach": [], "snapshot_create_delete": [], "backup_empty_volume": []}
    for _ in range(count):
        timings["attach_detach"].append(await gateway.attach_detach(volume))
        timings["snapshot_create_delete"].append(await gateway.snapshot_round_trip(volume_id))
        backup_id, took = await gateway.backup_empty(volume_id)
        timings["backup_empty_volume"].append(took)
        await gateway.delete_backup(backup_id)
    await gateway.delete(volume_id)
    return {name: dict(percentiles(values), count=count) for name, values in timings.items()}


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


async def concurrent(gateways: list[Gateway], clients: int, seconds: float) -> dict:
    """Creates for `seconds` from `clients` workers, then deletes all of them;
    worker i talks to gateway i mod their number."""
    created: list[str] = []
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def creator(gateway: Gateway) -> None:
        while time.perf_counter() < deadline:
            volume_id, took = await gateway.create()
            created.append(volume_id)
            latencies.append(took)

    started = time.perf_counter()
    await asyncio.gather(*(creator(gateways[i % len(gateways)]) for i in range(clients)))
    create_elapsed = time.perf_counter() - started

    pending = list(created)

    async def deleter(gateway: Gateway) -> None:
        while pending:
            await gateway.delete(pending.pop())

    started = time.perf_counter()
    await asyncio.gather(*(deleter(gateways[i % len(gateways)]) for i in range(clients)))
    delete_elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "creates": len(created),
        "creates_per_s": len(created) / create_elapsed,
        "create_latency_ms": percentiles(latencies),
        "deletes_per_s": len(created) / delete_elapsed,
    }


async def measure(
    addresses: list[str], token: str, sequential: int, seconds: float, client_counts: list[int], trips: int
) -> dict:
    """Each sequential create and each concurrent client goes to the next of
    `addresses`' gateways in turn, the round trips to the first."""
    gateways = [Gateway(address, token) for address in addresses]
    for gateway in gateways:
        for volume_id in [(await gateway.create())[0] for _ in range(10)]:
            await gateway.delete(volume_id)
    results = []
    for i in range(sequential):
        results.append(await gateways[i % len(gateways)].create())
    for volume_id, _ in results:
        await gateways[0].delete(volume_id)
    runs = [await concurrent(gateways, clients, seconds) for clients in client_counts]
    workflows = await round_trips(gateways[0], trips) if trips else {}
    for gateway in gateways:
        await gateway.channel.close()
    return {
        "sequential": {"creates": sequential, "latency_ms": percentiles([t for _, t in results])},
        "concurrent": runs,
        "round_trips_ms": workflows,
    }


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def report(figures: dict) -> str:
    seq = figures["sequential"]["latency_ms"]
    p50_met = "met" if seq["p50"] <= TARGET_P50_MS else "MISSED"
    lines = [
        f"Ember control plane through the gateway ({figures['machine']['cpus']} CPUs, "
        f"{figures['machine']['platform']}, Python {figures['machine']['python']})",
        "",
        f"sequential create->available, {figures['sequential']['creates']} creates: "
        f"p50 {seq['p50']:.1f} ms  p95 {seq['p95']:.1f} ms  p99 {seq['p99']:.1f} ms   "
        f"(target p50 <= {TARGET_P50_MS:g} ms: {p50_met})",
        "",
        f"{'clients':>7}  {'creates':>7}  {'creates/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'deletes/s':>9}",
    ]
    for run in figures["concurrent"]:
        lat = run["create_latency_ms"]
        lines.append(
            f"{run['clients']:>7}  {run['creates']:>7}  {run['creates_per_s']:>9.1f}  "
            f"{lat['p50']:>7.1f}  {lat['p99']:>7.1f}  {run['deletes_per_s']:>9.1f}"
        )
    at_target = [r for r in figures["concurrent"] if r["clients"] == TARGET_CLIENTS]
    if at_target:
        rate = at_target[0]["creates_per_s"]
        met = "met" if rate >= TARGET_CREATES_PER_S else "MISSED"
        lines.append(
            f"\ntarget >= {TARGET_CREATES_PER_S:g} creates/s at {TARGET_CLIENTS} clients: {met} "
            f"({rate / TARGET_CREATES_PER_S:.2f}x the target)"
        )
    lines += tls_cost(figures)
    if figures["round_trips_ms"]:
        lines += ["", f"{'round trip':<24}  {'p50 ms':>7}  {'p95 ms':>7}  {'p99 ms':>7}"]
        for name, cuts in figures["round_trips_ms"].items():
            lines.append(f"{name:<24}  {cuts['p50']:>7.1f}  {cuts['p95']:>7.1f}  {cuts['p99']:>7.1f}")
    return "\n".join(lines)


def measure_here(sequential: int = 200, seconds: float = 5.0, client_counts: tuple[int, ...] = (1, 8, 32),
                 trips: int = 30, address: str = "", token: str = "") -> dict:
    """The figures `report` prints, from the Ember at `address`, or from
    one started here for the purpose; then, for the latter, the same creates
    from one with plaintext inside, which shows what mutual TLS costs."""
    if address:
        figures = asyncio.run(measure(address.split(","), token, sequential, seconds, list(client_counts), trips))
    else:
        figures = _measure_local(True, sequential, seconds, list(client_counts), trips)
        figures["plaintext"] = _measure_local(False, sequential, seconds, [TARGET_CLIENTS], 0)
    figures["machine"] = machine()
    figures["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return figures


def _measure_local(encrypted: bool, sequential: int, seconds: float, client_counts: list[int], trips: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        mesh, token = local_ember(pathlib.Path(tmp), encrypted=encrypted)
        try:
            return asyncio.run(measure(mesh.gateway.split(","), token, sequential, seconds, client_counts, trips))
        finally:
            mesh.stop()


def tls_cost(figures: dict) -> list[str]:
    """Mutual TLS against plaintext inside, from the same run."""
    plain = figures.get("plaintext")
    if not plain:
        return []
    tls_p50, plain_p50 = figures["sequential"]["latency_ms"]["p50"], plain["sequential"]["latency_ms"]["p50"]
    rates = [{run["clients"]: run["creates_per_s"] for run in f["concurrent"]} for f in (figures, plain)]
    lines = ["", "cost of mutual TLS inside (same run, plaintext Ember started after):",
             f"  sequential create p50: {tls_p50:.1f} ms with TLS, {plain_p50:.1f} ms plaintext "
             f"({tls_p50 / plain_p50:.2f}x)"]
    if TARGET_CLIENTS in rates[0] and TARGET_CLIENTS in rates[1]:
        loss = 1 - rates[0][TARGET_CLIENTS] / rates[1][TARGET_CLIENTS]
        met = "met" if loss <= TARGET_TLS_RATE_LOSS else "MISSED"
        lines.append(f"  creates/s at {TARGET_CLIENTS} clients: {rates[0][TARGET_CLIENTS]:.1f} with TLS, "
                     f"{rates[1][TARGET_CLIENTS]:.1f} plaintext: {abs(loss):.1%} {'lost' if loss > 0 else 'gained'} "
                     f"(target at most {TARGET_TLS_RATE_LOSS:.0%}: {met})")
    return lines


def save(figures: dict, out: pathlib.Path | None = None) -> pathlib.Path:
    return jsonfile.write(figures, out or RESULTS / f"control_plane-{time.strftime('%Y%m%d-%H%M%S')}.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", help="an Ember gateway to measure, or several separated by commas; "
                                          "default: start one here")
    parser.add_argument("--token", default=os.environ.get("EMBER_TOKEN", ""), help="bearer token ($EMBER_TOKEN)")
    parser.add_argument("--sequential", type=int, default=200, help="sequential creates to time")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each concurrent run")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--round-trips", type=int, default=30, help="attach, snapshot and backup round trips")
    parser.add_argument("--multihost", action="store_true",
                        help="after the loopback run, the same from compute-1 of the multi-host reference topology "
                             "(needs root), and the create rates of both side by side")
    parser.add_argument("--json", type=pathlib.Path,
                        help="where to save the figures; default bench/results/control_plane-<time>.json")
    args = parser.parse_args(argv)
    if args.gateway and not args.token:
        parser.error("--gateway needs --token or EMBER_TOKEN")
    if args.gateway and args.multihost:
        parser.error("--multihost starts its own Embers; it takes no --gateway")
    clients = tuple(int(c) for c in args.clients.split(","))
    if args.multihost:
        # Here only: the client run on compute-1 is this module, and needs none of the harness.
        from bench import multihost

        figures = multihost.control_plane_both(args.sequential, args.seconds, clients, args.round_trips)
        print(multihost.control_plane_report(figures))
        print(f"\nfigures saved to {save(figures, args.json)}")
        return 0
    figures = measure_here(args.sequential, args.seconds, clients, args.round_trips, args.gateway or "", args.token)
    print(report(figures))
    print(f"\nfigures saved to {save(figures, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
