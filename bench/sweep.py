"""Backup and restore throughput through one Ember as the workload grows,
and as backups (then restores) of distinct volumes run at once.

    python -m bench.sweep [--sizes-mib 256,1024,2048] [--concurrency 1,2,4] [--concurrency-mib 512] [--runs 3]

Each volume holds bench.backup's workload (a quarter random, a quarter
text, half never written) at its start, with a seed of its own so that no
two volumes share a chunk. MiB/s is workload MiB over the time from the
request to the end of its operation; for N at once, N workloads over the
time until the last one ends. Restores end with the volume fsynced. Each
point is the median of `--runs` runs, each on volumes of its own.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import os
import pathlib
import statistics
import sys
import tempfile
import time

from bench import jsonfile
from bench.backup import MIB, Ember, fill, volume_gib
from bench.local import local_ember
from ember.v1 import backup_pb2, volume_pb2

_seeds = itertools.count(100)


def filled_volume(ember: Ember, size: int) -> str:
    volume = ember.finish(ember.volumes.CreateVolume(volume_pb2.CreateVolumeRequest(
        size_gb=volume_gib(size)), metadata=ember.metadata, timeout=30), volume_pb2.Volume())
    path, attachment_id = ember.local_path(volume.id)
    fill(path, size, next(_seeds))
    ember.detach(attachment_id)
    return volume.id


def at_once(calls: list) -> tuple[float, list]:
    """Runs the calls together; (seconds until the last one is done, their results)."""
    os.sync()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda call: call(), calls))
    return time.perf_counter() - started, results


def back_up_and_restore(ember: Ember, volume_ids: list[str], size: int) -> dict:
    def backup(volume_id):
        return lambda: ember.finish(ember.backups.CreateBackup(backup_pb2.CreateBackupRequest(
            volume_id=volume_id), metadata=ember.metadata, timeout=30), backup_pb2.Backup())

    def restore(backup_id):
        return lambda: ember.finish(ember.backups.RestoreBackup(backup_pb2.RestoreBackupRequest(
            backup_id=backup_id), metadata=ember.metadata, timeout=30), volume_pb2.Volume())

    backup_s, backups = at_once([backup(v) for v in volume_ids])
    restore_s, _ = at_once([restore(b.id) for b in backups])
    return {"backup_s": backup_s, "restore_s": restore_s}


def point(ember: Ember, count: int, size_mib: int, runs: int) -> dict:
    """Median seconds over the runs, and the aggregate MiB/s they give."""
    trials = [back_up_and_restore(ember, [filled_volume(ember, size_mib * MIB) for _ in range(count)], size_mib * MIB)
              for _ in range(runs)]
    backup_s = statistics.median(t["backup_s"] for t in trials)
    restore_s = statistics.median(t["restore_s"] for t in trials)
    return {"backup_s": backup_s, "restore_s": restore_s,
            "backup_mib_s": count * size_mib / backup_s, "restore_mib_s": count * size_mib / restore_s}


def measure(sizes_mib: tuple[int, ...], concurrency: tuple[int, ...], concurrency_mib: int, runs: int = 1,
            log=print) -> dict:
    figures: dict = {"sizes": [], "concurrency": [], "concurrency_mib": concurrency_mib, "runs": runs}
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        mesh, token = local_ember(pathlib.Path(tmp) / "ember")
        try:
            ember = Ember(mesh.gateway, token)
            for size_mib in sizes_mib:
                log(f"sweep: one {size_mib} MiB workload")
                figures["sizes"].append({"size_mib": size_mib, **point(ember, 1, size_mib, runs)})
            for count in concurrency:
                log(f"sweep: {count} x {concurrency_mib} MiB at once")
                figures["concurrency"].append({"count": count, **point(ember, count, concurrency_mib, runs)})
        finally:
            mesh.stop()
    return figures


def report(figures: dict) -> None:
    print(f"{'workload MiB':>12}  {'backup MiB/s':>12}  {'restore MiB/s':>13}")
    for point in figures["sizes"]:
        print(f"{point['size_mib']:>12}  {point['backup_mib_s']:>12.0f}  {point['restore_mib_s']:>13.0f}")
    print(f"\n{'at once':>12}  {'backup MiB/s':>12}  {'restore MiB/s':>13}   (aggregate, "
          f"{figures['concurrency_mib']} MiB each)")
    for point in figures["concurrency"]:
        print(f"{point['count']:>12}  {point['backup_mib_s']:>12.0f}  {point['restore_mib_s']:>13.0f}")


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mib", type=numbers, default=(256, 1024, 2048))
    parser.add_argument("--concurrency", type=numbers, default=(1, 2, 4))
    parser.add_argument("--concurrency-mib", type=int, default=512, help="workload of each volume backed up at once")
    parser.add_argument("--runs", type=int, default=1, help="runs of each point; the median counts")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    figures = measure(args.sizes_mib, args.concurrency, args.concurrency_mib, args.runs)
    report(figures)
    if args.json:
        jsonfile.write(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
