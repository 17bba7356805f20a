"""Data-path benchmark: sequential 1 MiB writes and reads of a 1 GiB volume
through its NBD export (nbdkit) and directly on the volume's file, with the
same client (nbdcopy, one connection), printing MiB/s for both and their
ratio. Target: NBD at 80% or more of direct.

Each is measured with 16 requests in flight, as QEMU's NBD client keeps
them (the target), and with one, the worst case for a network protocol:
every request then waits out a whole round trip (docs/benchmarks.md,
Profiles). Writes end with a flush, so both reach the disk. Reads are
measured cold: the page cache is dropped before each run (this needs root),
because a read served from memory measures memcpy, which no network
protocol can match; warm figures are printed too, for information.
`--readers 1,2,4` adds cold reads with that many connections at once, each
reading its share, one request in flight each.

    python -m bench.data_path [--size-gb 1] [--runs 5] [--readers 1,2,4]
    python -m bench.data_path --multihost   # NBD across the bridge (bench/multihost.py)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import grpc

from bench import jsonfile
from bench.local import local_ember
from ember import nbd_psk
from ember.v1 import attachment_pb2, volume_pb2, volume_pb2_grpc

MIB = 1024 * 1024
TARGET_RATIO = 0.8
# Issue 18: TLS-PSK on the exports may cost reads with QUEUED requests in flight this share at most.
TARGET_TLS_READ_LOSS = 0.25
SEQUENTIAL = ["--request-size=1048576", "--no-extents"]
# Requests in flight per connection: QEMU's NBD client keeps up to 16.
QUEUED = 16
DEPTHS = (QUEUED, 1)


def drop_caches() -> bool:
    """Empties the page cache; False where that is not allowed."""
    os.sync()
    try:
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def copy_seconds(source: str, destination: str, flush: bool, cold: bool, connections: int, requests: int,
                 prefix: tuple[str, ...] = ()) -> float:
    """Seconds nbdcopy takes, run after `prefix` (a command that runs it on another host)."""
    # nbdcopy gives each thread one connection and its share of the disk.
    parallel = [f"--connections={connections}", f"--threads={connections}", f"--requests={requests}"]
    command = [*prefix, "nbdcopy", *SEQUENTIAL, *parallel, *(["--flush"] if flush else []), source, destination]
    if cold:
        drop_caches()
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def rates(size: int, runs: int, pairs: dict[str, tuple[str, str]], flush: bool = False, cold: bool = False,
          connections: int = 1, requests: int = 1, on: dict[str, tuple[str, ...]] | None = None):
    """MiB/s of each (source, destination) pair's median run, each copy run
    after its pair's prefix in `on` if it has one. The pairs take turns, so
    that caches below this machine (a virtual disk's host) favour none of them."""
    seconds: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(runs):
        for name, (source, destination) in pairs.items():
            seconds[name].append(copy_seconds(source, destination, flush, cold, connections, requests,
                                              (on or {}).get(name, ())))
    return {name: size / MIB / statistics.median(times) for name, times in seconds.items()}


def _volumes(address: str, token: str):
    channel = grpc.insecure_channel(address)
    return channel, volume_pb2_grpc.VolumeServiceStub(channel), (("authorization", f"Bearer {token}"),)


def attach_over_nbd(address: str, token: str, size_gb: int) -> tuple[str, str, dict[str, str]]:
    """(volume id, attachment id, connection data) of a new volume attached over NBD."""
    channel, stub, metadata = _volumes(address, token)
    from google.longrunning import operations_pb2, operations_pb2_grpc
    from google.protobuf import duration_pb2

    op = stub.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=size_gb, name="data-path"), metadata=metadata)
    op = operations_pb2_grpc.OperationsStub(channel).WaitOperation(
        operations_pb2.WaitOperationRequest(name=op.name, timeout=duration_pb2.Duration(seconds=60)),
        metadata=metadata, timeout=70,
    )
    volume = volume_pb2.Volume()
    op.response.Unpack(volume)
    connector = attachment_pb2.Connector(host="bench-compute", transports=["nbd"])
    attachment = stub.CreateAttachment(
        attachment_pb2.CreateAttachmentRequest(volume_id=volume.id, instance_id="bench", connector=connector),
        metadata=metadata, timeout=60,
    )
    stub.CompleteAttachment(attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id), metadata=metadata)
    return volume.id, attachment.id, dict(attachment.connection_info.data)


def detach(address: str, token: str, attachment_id: str) -> None:
    """Stops the export's nbdkit, which outlives the services by design."""
    _, stub, metadata = _volumes(address, token)
    stub.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id), metadata=metadata,
                          timeout=60)


def levels(size: int, runs: int, source: str, path: str, uri: str, cold: bool,
           on: dict[str, tuple[str, ...]] | None = None) -> dict[str, dict]:
    """By requests in flight: MiB/s writing `source` to the volume's file
    `path` and to its export `uri`, then reading both, and NBD/direct."""
    depths = {}
    for depth in DEPTHS:
        level = rates(size, runs, {"write_direct": (source, path), "write_nbd": (source, uri)},
                      flush=True, requests=depth, on=on)
        level.update(rates(size, runs, {"read_direct": (path, "null:"), "read_nbd": (uri, "null:")},
                           cold=cold, requests=depth, on=on))
        for kind in ("write", "read"):
            level[f"{kind}_ratio"] = level[f"{kind}_nbd"] / level[f"{kind}_direct"]
        level["met"] = all(level[f"{kind}_ratio"] >= TARGET_RATIO for kind in ("write", "read"))
        depths[str(depth)] = level
    return depths


def write_source(path: pathlib.Path, size: int) -> None:
    """What the writes copy: random so that nbdcopy finds no zeroes to skip;
    one block repeated, as nothing on the path deduplicates and generating
    1 GiB takes longer."""
    block = os.urandom(64 * MIB)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)


@contextlib.contextmanager
def attached(root: pathlib.Path, size_gb: int, encrypted: bool = True) -> Iterator[tuple[str, str]]:
    """(volume file, export URI) of a new volume of an Ember started under
    `root`, attached over NBD (with TLS-PSK unless not `encrypted`)."""
    mesh, token = local_ember(root, encrypted=encrypted)
    attachment_id = ""
    try:
        volume_id, attachment_id, data = attach_over_nbd(mesh.gateway, token, size_gb)
        with nbd_psk.libnbd_uri_of(data) as uri:
            yield str(root / "volumes" / "file" / "default" / f"volume-{volume_id}"), uri
    finally:
        try:
            if attachment_id:
                detach(mesh.gateway, token, attachment_id)
        finally:
            mesh.stop()


def measure(size_gb: int = 1, runs: int = 5, readers: tuple[int, ...] = ()) -> dict:
    """The figures `report` prints; `readers` adds cold reads with that many
    connections (and as many nbdcopy threads) at once, each on its share of
    the volume, NBD against direct. Then, from an Ember whose exports take
    plaintext, the same NBD writes and reads with QUEUED requests in flight:
    what TLS-PSK costs."""
    size = size_gb * 1024 * MIB
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        root = pathlib.Path(tmp)
        source = root / "source.bin"
        write_source(source, size)
        cold = drop_caches()
        with attached(root / "ember", size_gb) as (path, uri):
            figures = {"size_mib": size // MIB, "runs": runs, "reads_cold": cold,
                       "depths": levels(size, runs, str(source), path, uri, cold)}
            figures.update(rates(size, runs, {"warm_read_direct": (path, "null:"), "warm_read_nbd": (uri, "null:")}))
            figures["readers"] = []
            single = figures["depths"]["1"]
            for count in readers:
                # One connection is the cold read measured above, the same command.
                level = {"direct": single["read_direct"], "nbd": single["read_nbd"]} if count == 1 else rates(
                    size, runs, {"direct": (path, "null:"), "nbd": (uri, "null:")}, cold=cold, connections=count)
                figures["readers"].append({"connections": count, "direct": level["direct"], "nbd": level["nbd"],
                                           "ratio": level["nbd"] / level["direct"]})
        with attached(root / "plaintext", size_gb, encrypted=False) as (_, uri):
            figures["plaintext_nbd"] = rates(size, runs, {"write": (str(source), uri)}, flush=True, requests=QUEUED)
            figures["plaintext_nbd"].update(rates(size, runs, {"read": (uri, "null:")}, cold=cold, requests=QUEUED))
    figures["target_ratio"] = TARGET_RATIO
    figures["queued"] = QUEUED
    figures["met"] = figures["depths"][str(QUEUED)]["met"]
    return figures


def tls_cost(figures: dict) -> list[str]:
    """NBD with TLS-PSK against plaintext exports, QUEUED requests in flight."""
    plain = figures.get("plaintext_nbd")
    if not plain:
        return []
    level = figures["depths"][str(figures["queued"])]
    lines = ["", f"cost of TLS-PSK on NBD, {figures['queued']} requests in flight (same run, plaintext exports "
             "of an Ember started after):"]
    for kind in ("write", "read"):
        loss = 1 - level[f"{kind}_nbd"] / plain[kind]
        verdict = (f"  (target at most {TARGET_TLS_READ_LOSS:.0%}: "
                   f"{'met' if loss <= TARGET_TLS_READ_LOSS else 'MISSED'})") if kind == "read" else ""
        lines.append(f"  {kind:5} {level[f'{kind}_nbd']:>7.0f} MiB/s with TLS, {plain[kind]:>7.0f} MiB/s without: "
                     f"{abs(loss):.1%} {'lost' if loss > 0 else 'gained'}{verdict}")
    return lines


def report(figures: dict) -> None:
    print(f"Sequential 1 MiB requests on a {figures['size_mib'] // 1024} GiB volume (nbdcopy, 1 connection)\n")
    print(f"{'':6}  {'in flight':>9}  {'direct MiB/s':>12}  {'NBD MiB/s':>10}  {'NBD/direct':>10}")
    for depth, level in figures["depths"].items():
        for kind in ("write", "read"):
            print(f"{kind:6}  {depth:>9}  {level[f'{kind}_direct']:>12.0f}  {level[f'{kind}_nbd']:>10.0f}"
                  f"  {level[f'{kind}_ratio']:>10.2f}")
    warm = figures["warm_read_nbd"] / figures["warm_read_direct"]
    print(f"{'(warm)':6}  {1:>9}  {figures['warm_read_direct']:>12.0f}  {figures['warm_read_nbd']:>10.0f}"
          f"  {warm:>10.2f}   reads from the page cache, for information")
    for level in figures["readers"]:
        print(f"{level['connections']:>2} conn  {1:>9}  {level['direct']:>12.0f}  {level['nbd']:>10.0f}"
              f"  {level['ratio']:>10.2f}   cold reads, that many connections at once")
    if not figures["reads_cold"]:
        print("\nthe page cache could not be dropped (needs root): the read figures above are warm")
    for line in tls_cost(figures):
        print(line)
    single = figures["depths"]["1"]["met"]
    print(f"\ntarget NBD >= {TARGET_RATIO:.0%} of direct, {figures['queued']} requests in flight: "
          f"{'met' if figures['met'] else 'MISSED'} (one in flight: {'met' if single else 'missed'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=int, default=1, help="volume size (default 1 GiB)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement; the median counts")
    parser.add_argument("--readers", default="", help="also cold reads with these numbers of connections, e.g. 1,2,4")
    parser.add_argument("--multihost", action="store_true",
                        help="instead: NBD from compute-1 of the multi-host reference topology to a volume of "
                             "store-1, against direct on store-1 (needs root)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.multihost:
        # Here only: bench.multihost builds on this module.
        from bench import multihost

        with multihost.topology() as hosts:
            figures = multihost.data_path_figures(hosts, args.size_gb, args.runs)
        print("\n".join(multihost.data_path_lines(figures)))
        if args.json:
            jsonfile.write(figures, args.json)
        return 0
    figures = measure(args.size_gb, args.runs, tuple(int(n) for n in args.readers.split(",") if n))
    report(figures)
    if args.json:
        jsonfile.write(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
