"""Backup benchmark: a 2 GiB volume (25% random, 25% compressible text, 50%
never written), backed up through the gateway, changed in 1% of its space
in scattered blocks, backed up incrementally, restored to a new volume;
then the same file through restic and borg (when installed), and the
single-pass read + hash + compress floor on the volume's data.

    python -m bench.backup [--size-gib 2 | --size-mib N] [--change-kib 4] [--no-compare] [--over-nbd]

Every tool reads the same file from the page cache (it was just written);
dirty pages are written back before each timed step. Ember's restore ends
with the volume fsynced (a restored volume must survive a power cut), so
the others' restore times include an fsync of the restored file too (their
time without it is printed as well).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time

import blake3
import grpc
import zstandard
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from backup.repository.format import CHUNK_SIZE
from backup.volumes_io import FileVolume
from bench import jsonfile
from bench.local import local_ember
from ember import config
from ember.v1 import attachment_pb2, backup_pb2, backup_pb2_grpc, volume_pb2, volume_pb2_grpc

MIB = 1024 * 1024
WORDS = (b"volume backup restore chunk manifest repository snapshot attach detach scheduler pool capacity "
         b"extent hole zero block storage gateway operation status available error quota project").split()


def text_block(size: int, seed: int) -> bytes:
    """Compressible text whose 32 KiB chunks all differ (a letter substitution per block)."""
    rng = random.Random(seed)
    lines = []
    length = 0
    while length < size:
        line = b"%010d " % (seed * 10**6 + len(lines)) + b" ".join(rng.choices(WORDS, k=10)) + b"\n"
        lines.append(line)
        length += len(line)
    return b"".join(lines)[:size]


def fill(path: pathlib.Path, size: int, seed: int = 1) -> None:
    """First quarter random, second quarter text, the rest left as holes.
    Volumes filled with different seeds share no chunk."""
    quarter = size // 4
    base = text_block(8 * MIB, seed)
    letters = bytes(range(ord("a"), ord("z") + 1))
    with open(path, "r+b") as f:
        for offset in range(0, quarter, 64 * MIB):
            f.write(os.urandom(min(64 * MIB, quarter - offset)))
        for i, offset in enumerate(range(0, quarter, len(base))):
            shuffled = bytes(random.Random(i).sample(letters, len(letters)))
            f.write(base.translate(bytes.maketrans(letters, shuffled))[:quarter - offset])
        os.fsync(f.fileno())


def change(path: pathlib.Path, size: int, block: int, share: float = 0.01) -> int:
    """Overwrites `share` of the volume in scattered blocks; returns the bytes written."""
    rng = random.Random(42)
    count = int(size * share) // block
    offsets = rng.sample(range(size // block), count)
    with open(path, "r+b") as f:
        for index in offsets:
            f.seek(index * block)
            f.write(os.urandom(block))
        os.fsync(f.fileno())
    return count * block


def disk_usage(path: pathlib.Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def file_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(16 * MIB):
            h.update(block)
    return h.hexdigest()


def floor(path: pathlib.Path) -> float:
    """One thread, one pass over the data extents: read, hash, compress."""
    volume = FileVolume(str(path))
    compressor = zstandard.ZstdCompressor(level=1)
    started = time.perf_counter()
    for offset, length, data in volume.extents():
        if not data:
            continue
        buffer = bytearray(length)
        volume.pread_into(buffer, offset)
        view = memoryview(buffer)
        for i in range(0, length, CHUNK_SIZE):
            blake3.blake3(view[i:i + CHUNK_SIZE]).digest()
            compressor.compress(view[i:i + CHUNK_SIZE])
    volume.close()
    return time.perf_counter() - started


class Ember:
    def __init__(self, gateway: str, token: str):
        channel = grpc.insecure_channel(gateway)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.volumes = volume_pb2_grpc.VolumeServiceStub(channel)
        self.backups = backup_pb2_grpc.BackupServiceStub(channel)
        self.operations = operations_pb2_grpc.OperationsStub(channel)

    def finish(self, op, answer):
        while not op.done:
            op = self.operations.WaitOperation(operations_pb2.WaitOperationRequest(
                name=op.name, timeout=duration_pb2.Duration(seconds=60)), metadata=self.metadata, timeout=70)
        if op.HasField("error"):
            raise SystemExit(f"{op.name} failed: {op.error.message}")
        op.response.Unpack(answer)
        return answer

    def timed(self, call, request, answer):
        os.sync()
        started = time.perf_counter()
        result = self.finish(call(request, metadata=self.metadata, timeout=30), answer)
        return time.perf_counter() - started, result

    def local_path(self, volume_id: str) -> tuple[pathlib.Path, str]:
        connector = attachment_pb2.Connector(host=config.default_host(), transports=["local"])
        attachment = self.volumes.CreateAttachment(attachment_pb2.CreateAttachmentRequest(
            volume_id=volume_id, instance_id="bench", connector=connector), metadata=self.metadata, timeout=60)
        return pathlib.Path(attachment.connection_info.data["device_path"]), attachment.id

    def detach(self, attachment_id: str) -> None:
        self.volumes.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id),
                                      metadata=self.metadata, timeout=60)


def durable(path: pathlib.Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    return time.perf_counter() - started


def run(command: list[str], env: dict, cwd: pathlib.Path | None = None) -> float:
    os.sync()
    started = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - started


def restic_commands(root: pathlib.Path) -> tuple[dict, list[list[str]]]:
    env = {"RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(root / "restic"),
           "RESTIC_CACHE_DIR": str(root / "restic-cache")}
    # --sparse came with restic 0.15; older ones write the zeros.
    sparse = ["--sparse"] if "--sparse" in subprocess.run(["restic", "restore", "--help"], capture_output=True,
                                                          text=True).stdout else []
    return env, [["restic", "init"], ["restic", "backup", "--quiet", "{volume}"],
                 ["restic", "backup", "--quiet", "{volume}"],
                 ["restic", "restore", "latest", *sparse, "--target", "{target}"]]


def borg_commands(root: pathlib.Path) -> tuple[dict, list[list[str]]]:
    env = {"BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes", "BORG_BASE_DIR": str(root / "borg-home")}
    repo = root / "borg"
    return env, [["borg", "init", "--encryption=none", str(repo)], ["borg", "create", f"{repo}::full", "{volume}"],
                 ["borg", "create", f"{repo}::incremental", "{volume}"],
                 ["borg", "extract", "--sparse", f"{repo}::incremental"]]


def other_tool(tool: str, root: pathlib.Path, volume: pathlib.Path, later) -> dict:
    """init, full backup, `later` (the change), incremental backup, restore
    (in the target directory) of the incremental."""
    env, (init, full, incremental, restore) = COMMANDS[tool](root)
    target = root / f"{tool}-restore"
    target.mkdir()

    def filled(command: list[str]) -> list[str]:
        return [part.format(volume=volume, target=target) for part in command]

    repo = root / tool
    run(filled(init), env)
    full_s = run(filled(full), env)
    full_bytes = disk_usage(repo)
    later()
    incremental_s = run(filled(incremental), env)
    restore_s = run(filled(restore), env, cwd=target)
    restored = target / volume.relative_to(volume.anchor)
    figures = {"full_s": full_s, "incremental_s": incremental_s, "restore_s": restore_s + durable(restored),
               "restore_unsynced_s": restore_s, "full_bytes": full_bytes,
               "incremental_bytes": disk_usage(repo) - full_bytes, "same": file_digest(restored) == file_digest(volume)}
    shutil.rmtree(target)
    return figures


COMMANDS = {"restic": restic_commands, "borg": borg_commands}
TOOLS = ("ember", *COMMANDS)


def report(size: int, figures: dict) -> None:
    mib = size / MIB
    print(f"{mib:.0f} MiB volume (25% random, 25% text, 50% holes); "
          f"{figures['changed_bytes'] / MIB:.1f} MiB changed in {figures['change_kib']} KiB blocks\n")
    print(f"{'':<8}{'full s':>8}{'MiB/s':>8}{'stored MiB':>12}{'incr s':>8}{'incr/full':>10}"
          f"{'incr MiB':>10}{'incr %':>8}{'restore s':>11}{'MiB/s':>8}")
    for tool in TOOLS:
        f = figures.get(tool)
        if not f:
            print(f"{tool:<8}not measured")
            continue
        print(f"{tool:<8}{f['full_s']:8.2f}{mib / f['full_s']:8.0f}{f['full_bytes'] / MIB:12.1f}"
              f"{f['incremental_s']:8.2f}{f['incremental_s'] / f['full_s']:10.2f}{f['incremental_bytes'] / MIB:10.1f}"
              f"{100 * f['incremental_bytes'] / f['full_bytes']:7.1f}%{f['restore_s']:11.2f}{mib / f['restore_s']:8.0f}"
              + (f"  (restore {f['restore_unsynced_s']:.2f} s before its fsync)" if "restore_unsynced_s" in f else "")
              + ("" if f["same"] else "  RESTORE DIFFERS"))
    print(f"\nfloor (1 thread: read + blake3 + zstd of the data): {figures['floor_s']:.2f} s")
    ember = figures["ember"]
    print(f"ember full backup / floor {ember['full_s'] / figures['floor_s']:.2f}x")
    for tool in ("restic", "borg"):
        if figures.get(tool):
            other = figures[tool]
            print(f"ember / {tool}: full {ember['full_s'] / other['full_s']:.2f}x, incremental "
                  f"{ember['incremental_s'] / other['incremental_s']:.2f}x, restore "
                  f"{ember['restore_s'] / other['restore_s']:.2f}x, repository "
                  f"{ember['full_bytes'] / other['full_bytes']:.2f}x")


def volume_gib(size: int) -> int:
    """Volumes come in whole GiB; a smaller workload sits at the start of one
    and leaves the rest unwritten."""
    return max(1, -(-size // (1024 * MIB)))


def measure(size: int, change_kib: int = 4, compare: bool = True, over_nbd: bool = False) -> dict:
    """The figures `report` prints, for a workload of `size` bytes; with
    `over_nbd`, Ember's backup service reads and writes the volumes through
    their NBD exports, as from another host."""
    figures: dict = {"size_mib": size // MIB, "change_kib": change_kib, "over_nbd": over_nbd}
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        root = pathlib.Path(tmp)
        mesh, token = local_ember(root / "ember", backup_over_nbd=over_nbd)
        try:
            ember = Ember(mesh.gateway, token)
            volume = ember.finish(ember.volumes.CreateVolume(volume_pb2.CreateVolumeRequest(
                size_gb=volume_gib(size)), metadata=ember.metadata, timeout=30), volume_pb2.Volume())
            path, attachment_id = ember.local_path(volume.id)
            fill(path, size)
            ember.detach(attachment_id)
            original = root / "original.img"
            if compare:
                # The others back up this copy of the volume as it is before
                # the change, cut to the workload so they read what Ember does.
                subprocess.run(["cp", "--sparse=always", str(path), str(original)], check=True)
                os.truncate(original, size)
            figures["floor_s"] = floor(path)
            repository = root / "ember" / "backups"
            full_s, full = ember.timed(ember.backups.CreateBackup, backup_pb2.CreateBackupRequest(
                volume_id=volume.id), backup_pb2.Backup())
            full_bytes = disk_usage(repository)
            figures["changed_bytes"] = change(path, size, change_kib * 1024)
            incremental_s, incremental = ember.timed(ember.backups.CreateBackup, backup_pb2.CreateBackupRequest(
                volume_id=volume.id, incremental=True), backup_pb2.Backup())
            restore_s, restored = ember.timed(ember.backups.RestoreBackup, backup_pb2.RestoreBackupRequest(
                backup_id=incremental.id), volume_pb2.Volume())
            restored_path, restored_attachment = ember.local_path(restored.id)
            figures["ember"] = {
                "full_s": full_s, "incremental_s": incremental_s, "restore_s": restore_s, "full_bytes": full_bytes,
                "incremental_bytes": disk_usage(repository) - full_bytes,
                "same": file_digest(restored_path) == file_digest(path),
            }
            ember.detach(restored_attachment)
            if compare:
                for tool in COMMANDS:
                    if shutil.which(tool):
                        figures[tool] = other_tool(tool, root, original,
                                                   lambda: change(original, size, change_kib * 1024))
        finally:
            mesh.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--size-gib", type=int, default=2, help="volume size")
    sizes.add_argument("--size-mib", type=int, help="workload size, at the start of a volume of whole GiB")
    parser.add_argument("--change-kib", type=int, default=4, help="size of each scattered changed block")
    parser.add_argument("--no-compare", action="store_true", help="skip restic and borg")
    parser.add_argument("--over-nbd", action="store_true",
                        help="Ember's backup service reads and writes the volumes over NBD, as from another host")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB if args.size_mib else args.size_gib * 1024 * MIB
    figures = measure(size, args.change_kib, not args.no_compare, args.over_nbd)
    report(size, figures)
    if args.json:
        jsonfile.write(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
