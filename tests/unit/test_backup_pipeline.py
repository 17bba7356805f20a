"""The backup data path without a network: a sparse file backed up into a
repository and restored, byte for byte, with holes kept; incrementals that
store only what changed and restore on their own; corruption named."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time

import pytest

from backup import pipeline
from backup.repository import ChunkError, Repository, gc, packs
from backup.repository.format import CHUNK_SIZE, FLAG_ZSTD
from backup.repository.manifests import Manifest
from backup.volumes_io import FileVolume, open_volume
from tests import nbd

MIB = 1024 * 1024
SIZE = 64 * MIB


def nothing(*_):
    return None


class CountingVolume(FileVolume):
    """Counts the bytes the backup reads."""

    def __init__(self, path):
        super().__init__(str(path))
        self.read = 0

    def pread_into(self, buffer, offset):
        self.read += len(buffer)
        super().pread_into(buffer, offset)


def write_at(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
def source(tmp_path):
    """64 MiB: 4 MiB random, 4 MiB of text, 4 MiB of written zeros, the rest holes."""
    path = tmp_path / "source.img"
    with open(path, "wb") as f:
        f.truncate(SIZE)
    write_at(path, 0, os.urandom(4 * MIB))
    text = b"".join(b"line %d of a compressible text\n" % i for i in range(200_000))[:4 * MIB]
    write_at(path, 16 * MIB, text)
    write_at(path, 32 * MIB, bytes(4 * MIB))
    return path


def run_backup(repo, path, backup_id, workers=2):
    volume = CountingVolume(path)
    manifest = Manifest(backup_id, "vol", volume.size, repo.chunk_size, "2026-01-01T00:00:00")
    try:
        stats = pipeline.backup(repo, volume, manifest, nothing, nothing, workers)
    finally:
        volume.close()
    repo.write_manifest(manifest)
    return stats, volume.read


def run_restore(repo, backup_id, target, size=SIZE, fill_holes=False):
    if not target.exists():
        with open(target, "wb") as f:
            f.truncate(size)
    volume = FileVolume(str(target), writable=True)
    try:
        return pipeline.restore(repo, repo.read_manifest(backup_id), volume, nothing, nothing, fill_holes)
    finally:
        volume.close()


def digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MIB):
            h.update(block)
    return h.hexdigest()


def test_round_trip_keeps_every_byte_and_the_holes(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    stats, read = run_backup(repo, source, "full")
    assert read == 12 * MIB, "only allocated extents are read; holes are skipped"
    assert stats.chunks == 8 * MIB // CHUNK_SIZE, "written zeros are not stored"
    assert stats.new_chunks == stats.chunks
    assert 4 * MIB < stats.stored_bytes < 6 * MIB, "random is stored raw, text compressed"
    target = tmp_path / "restored.img"
    run_restore(repo, "full", target)
    assert digest(target) == digest(source)
    assert os.stat(target).st_blocks * 512 <= 8 * MIB + MIB, "zeros come back as holes"


def test_random_chunks_are_stored_raw_and_text_compressed(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    run_backup(repo, source, "full")
    manifest = repo.read_manifest("full")
    repo.refresh_index()
    first = repo.index[manifest.chunks[0][1]]
    text = repo.index[dict(manifest.chunks)[16 * MIB // CHUNK_SIZE]]
    assert first.flags == 0 and first.length == CHUNK_SIZE
    assert text.flags & FLAG_ZSTD and text.length < CHUNK_SIZE // 4


def test_incremental_stores_only_changed_chunks_and_restores_alone(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    full, _ = run_backup(repo, source, "full")
    rng = random.Random(7)
    for _ in range(20):
        write_at(source, rng.randrange(0, SIZE - 4096), os.urandom(4096))
    incremental, _ = run_backup(repo, source, "incremental")
    assert incremental.new_chunks <= 40, "a 4 KiB write touches at most two chunks"
    assert incremental.stored_bytes <= 0.2 * full.stored_bytes
    repo.delete_manifest("full")
    gc.collect(repo, "test-gc")
    target = tmp_path / "restored.img"
    run_restore(repo, "incremental", target)
    assert digest(target) == digest(source)


def test_restore_onto_a_used_volume_clears_what_the_backup_does_not_hold(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    run_backup(repo, source, "full")
    target = tmp_path / "used.img"
    target.write_bytes(os.urandom(SIZE + MIB))
    run_restore(repo, "full", target, fill_holes=True)
    with open(target, "rb") as f:
        assert f.read(SIZE) == source.read_bytes()
        assert f.read() == bytes(MIB), "space past the backup is cleared too"


def corrupt_first_chunk(repo, backup_id) -> str:
    manifest = repo.read_manifest(backup_id)
    repo.refresh_index()
    digest_ = manifest.chunks[0][1]
    location = repo.index[digest_]
    with open(packs.pack_path(repo.root, location.pack, ".pack"), "r+b") as f:
        f.seek(location.offset + 100)
        byte = f.read(1)
        f.seek(location.offset + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    return digest_.hex()


def test_a_corrupt_chunk_fails_the_restore_and_is_named(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    run_backup(repo, source, "full")
    bad = corrupt_first_chunk(repo, "full")
    fresh = Repository(repo.root)
    with pytest.raises(ChunkError) as failure:
        run_restore(fresh, "full", tmp_path / "restored.img")
    assert failure.value.digest == bad and "does not match its hash" in str(failure.value)
    stats, problems = pipeline.verify(fresh, fresh.read_manifest("full"), nothing, nothing)
    assert [p.digest for p in problems] == [bad]
    assert stats.chunks == len(fresh.read_manifest("full").chunks)


def test_a_missing_pack_is_named_as_missing(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    run_backup(repo, source, "full")
    for path in (repo.root / "packs").glob("*/*"):
        path.unlink()
    with pytest.raises(ChunkError, match="is not in the repository"):
        run_restore(Repository(repo.root), "full", tmp_path / "restored.img")


def test_verify_of_a_good_backup_checks_every_byte(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    run_backup(repo, source, "full")
    stats, problems = pipeline.verify(repo, repo.read_manifest("full"), nothing, nothing)
    assert problems == [] and stats.bytes_done == 8 * MIB


class FailingVolume(CountingVolume):
    def pread_into(self, buffer, offset):
        if offset >= 16 * MIB:
            raise OSError("the export went away")
        super().pread_into(buffer, offset)


def test_an_interrupted_backup_leaves_no_manifest_and_no_partial_pack(tmp_path, source):
    repo = Repository(tmp_path / "repo")
    volume = FailingVolume(source)
    manifest = Manifest("cut", "vol", volume.size, repo.chunk_size, "2026-01-01T00:00:00")
    with pytest.raises(OSError, match="went away"):
        pipeline.backup(repo, volume, manifest, nothing, nothing)
    assert not repo.has_manifest("cut")
    assert not list((repo.root / "packs").glob("*/.*.partial"))
    stats, _ = run_backup(repo, source, "again")
    target = tmp_path / "restored.img"
    run_restore(repo, "again", target)
    assert digest(target) == digest(source) and stats.chunks == 256


def test_another_hosts_garbage_collection_is_followed(tmp_path, source):
    """Host B collects (rewriting packs); host A's index still points at the
    old packs and must find the chunks where they went."""
    host_a = Repository(tmp_path / "repo")
    run_backup(host_a, source, "full")
    write_at(source, 0, os.urandom(MIB))
    run_backup(host_a, source, "second")
    host_b = Repository(host_a.root)
    host_b.delete_manifest("full")
    result = gc.collect(host_b, "b")
    assert result["packs_rewritten"] + result["packs_removed"] >= 1
    target = tmp_path / "restored.img"
    run_restore(host_a, "second", target)
    assert digest(target) == digest(source)


@pytest.fixture
def nbd_export(tmp_path):
    """Serves a file over NBD (nbdkit), as a volume host does for a backup."""
    nbd.require_tools()
    servers = []

    def serve(path):
        socket = tmp_path / f"{path.name}.sock"
        servers.append(subprocess.Popen(["nbdkit", "-f", "--exit-with-parent", "-U", str(socket), "file",
                                         f"file={path}"], stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"driver_volume_type": "nbd", "data": {"uri": f"nbd+unix:///?socket={socket}"}}

    yield serve
    for server in servers:
        server.terminate()
        server.wait(10)


def test_round_trip_over_nbd_reads_only_allocated_extents(tmp_path, source, nbd_export):
    repo = Repository(tmp_path / "repo")
    volume = open_volume(nbd_export(source))
    reads = []
    original = volume.read_blocks

    def counted(blocks):
        for offset, block in original(blocks):
            reads.append(len(block))
            yield offset, block

    volume.read_blocks = counted
    manifest = Manifest("nbd", "vol", volume.size, repo.chunk_size, "now")
    try:
        stats = pipeline.backup(repo, volume, manifest, nothing, nothing)
    finally:
        volume.close()
    repo.write_manifest(manifest)
    assert sum(reads) == 12 * MIB and stats.chunks == 256
    target = tmp_path / "target.img"
    target.write_bytes(os.urandom(SIZE))
    writable = open_volume(nbd_export(target), writable=True)
    try:
        pipeline.restore(repo, manifest, writable, nothing, nothing, fill_holes=True)
    finally:
        writable.close()
    assert digest(target) == digest(source)
