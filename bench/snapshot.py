"""Snapshot benchmark: a snapshot of a 1 GiB volume holding 10 MiB of data,
through the gateway (CreateSnapshot until the operation is done), against
copying those 10 MiB and against copying the whole 1 GiB file. The first
should be close to the second, far from the third.

    python -m bench.snapshot
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from bench import jsonfile
from bench.local import local_ember
from ember import config
from ember.v1 import attachment_pb2, snapshot_pb2, snapshot_pb2_grpc, volume_pb2, volume_pb2_grpc

MIB = 1024 * 1024


def timed(action, runs: int) -> float:
    """Median seconds."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def full_copy(source: pathlib.Path, destination: pathlib.Path) -> None:
    """What a copy that does not know about holes does: every byte, written."""
    with open(source, "rb") as src, open(destination, "wb") as dst:
        shutil.copyfileobj(src, dst, 8 * MIB)
        os.fsync(dst.fileno())
    destination.unlink()


def measure(data_mib: int = 10, runs: int = 5) -> dict:
    """The figures `report` prints: median seconds of each action."""
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        root = pathlib.Path(tmp)
        mesh, token = local_ember(root / "ember")
        try:
            channel = grpc.insecure_channel(mesh.gateway)
            metadata = (("authorization", f"Bearer {token}"),)
            volumes = volume_pb2_grpc.VolumeServiceStub(channel)
            snapshots = snapshot_pb2_grpc.SnapshotServiceStub(channel)
            operations = operations_pb2_grpc.OperationsStub(channel)

            def finish(op):
                while not op.done:
                    op = operations.WaitOperation(operations_pb2.WaitOperationRequest(
                        name=op.name, timeout=duration_pb2.Duration(seconds=60)), metadata=metadata, timeout=70)
                assert not op.HasField("error"), op.error.message
                return op

            volume = volume_pb2.Volume()
            finish(volumes.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=1), metadata=metadata)).response.Unpack(volume)
            connector = attachment_pb2.Connector(host=config.default_host(), transports=["local"])
            attachment = volumes.CreateAttachment(attachment_pb2.CreateAttachmentRequest(
                volume_id=volume.id, instance_id="bench", connector=connector), metadata=metadata)
            path = pathlib.Path(attachment.connection_info.data["device_path"])
            data = os.urandom(data_mib * MIB)
            with open(path, "r+b") as f:
                f.write(data)
                os.fsync(f.fileno())
            volumes.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id),
                                     metadata=metadata)
            sample = root / "data.bin"
            sample.write_bytes(data)

            def snapshot():
                finish(snapshots.CreateSnapshot(snapshot_pb2.CreateSnapshotRequest(volume_id=volume.id),
                                                metadata=metadata, timeout=30))

            figures = {
                "snapshot_s": timed(snapshot, runs),
                "copy_data_s": timed(lambda: full_copy(sample, root / "copy"), runs),
                "copy_volume_s": timed(lambda: full_copy(path, root / "copy"), runs),
                "data_mib": data_mib, "runs": runs,
            }
        finally:
            mesh.stop()
    return figures


def report(figures: dict) -> None:
    print(f"1 GiB volume holding {figures['data_mib']} MiB of data, median of {figures['runs']} runs\n")
    print(f"snapshot through the gateway     {figures['snapshot_s'] * 1000:8.1f} ms")
    print(f"copy of the {figures['data_mib']} MiB of data      {figures['copy_data_s'] * 1000:8.1f} ms")
    print(f"copy of the whole 1 GiB file     {figures['copy_volume_s'] * 1000:8.1f} ms")
    print(f"\nsnapshot / data copy {figures['snapshot_s'] / figures['copy_data_s']:.2f}x;"
          f" snapshot / whole copy {figures['snapshot_s'] / figures['copy_volume_s']:.3f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-mib", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    figures = measure(args.data_mib, args.runs)
    report(figures)
    if args.json:
        jsonfile.write(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
