"""The repository's rules: locks that keep garbage collection and backups
apart (stale holders ignored), collection that removes only what no
manifest names, and manifests that read back as written."""

from __future__ import annotations

import os
import time

import pytest

from backup.repository import Repository, gc, locks, manifests, packs
from backup.repository.format import chunk_hash


def store(repo: Repository, *blobs: bytes) -> list[bytes]:
    writer = packs.PackWriter(repo.root)
    digests = []
    for blob in blobs:
        digest = chunk_hash(blob)
        writer.add(digest, blob, len(blob), 0)
        digests.append(digest)
    repo.learn(writer.commit())
    return digests


def name(repo: Repository, backup_id: str, digests: list[bytes]) -> None:
    repo.write_manifest(manifests.Manifest(backup_id, "vol", 1 << 20, repo.chunk_size, "now",
                                           chunks=list(enumerate(digests))))


def test_manifests_read_back_as_written(tmp_path):
    repo = Repository(tmp_path)
    manifest = manifests.Manifest("b1", "v1", 123, repo.chunk_size, "now", parent_id="b0",
                                  metadata={"volume": {"name": "x"}}, chunks=[(0, b"a" * 32), (7, b"b" * 32)])
    repo.write_manifest(manifest)
    assert repo.read_manifest("b1") == manifest
    assert repo.has_manifest("b1") and manifests.backup_ids(repo.root) == ["b1"]
    with pytest.raises(ValueError, match="not an Ember backup manifest"):
        manifests.decode(b"garbage")


def test_a_repository_of_another_format_is_refused(tmp_path):
    Repository(tmp_path)
    (tmp_path / "config.json").write_text('{"version": 99, "chunk_size": 4096}')
    with pytest.raises(RuntimeError, match="another format"):
        Repository(tmp_path)


def test_shared_holders_exclude_collection_and_collection_excludes_them(tmp_path):
    repo = Repository(tmp_path)
    with repo.lock("backup-1"), repo.lock("backup-2"):
        with pytest.raises(locks.Busy, match="backup-1, backup-2"):
            repo.lock("gc", locks.EXCLUSIVE)
    with repo.lock("gc", locks.EXCLUSIVE):
        with pytest.raises(locks.Busy, match="gc"):
            repo.lock("backup-3")
    assert not list((tmp_path / "locks").iterdir()), "released locks leave nothing behind"


def test_a_stale_lock_of_a_crashed_holder_does_not_count(tmp_path):
    repo = Repository(tmp_path)
    crashed = repo.lock("backup-crashed")
    old = time.time() - locks.FRESH - 1
    os.utime(crashed.path, (old, old))
    with repo.lock("gc", locks.EXCLUSIVE):
        pass
    crashed.refresh()
    with pytest.raises(locks.Busy):
        repo.lock("gc", locks.EXCLUSIVE)


def test_collection_removes_only_chunks_no_manifest_names(tmp_path):
    repo = Repository(tmp_path)
    shared, only_a, only_b = store(repo, b"shared" * 1000, b"only a" * 1000, b"only b" * 1000)
    name(repo, "a", [shared, only_a])
    name(repo, "b", [shared, only_b])
    repo.delete_manifest("a")
    result = gc.collect(repo, "gc")
    assert result == {"freed_bytes": 6000, "packs_removed": 0, "packs_rewritten": 1}
    fresh = Repository(tmp_path)
    assert fresh.read_chunk(shared) == b"shared" * 1000 and fresh.read_chunk(only_b) == b"only b" * 1000
    fresh.refresh_index()
    assert only_a not in fresh.index


def test_collection_leaves_mostly_live_packs_alone(tmp_path):
    repo = Repository(tmp_path)
    digests = store(repo, *[bytes([i]) * 1000 for i in range(10)])
    name(repo, "a", digests[1:])
    assert gc.collect(repo, "gc")["freed_bytes"] == 0, "a pack 10% dead is not worth copying"
    name(repo, "a", digests[5:])
    assert gc.collect(repo, "gc") == {"freed_bytes": 5000, "packs_removed": 0, "packs_rewritten": 1}


def test_collection_drops_unindexed_packs_and_partials(tmp_path):
    repo = Repository(tmp_path)
    kept = store(repo, b"kept" * 100)
    name(repo, "a", kept)
    orphan = packs.pack_path(tmp_path, "ab" * 16, ".pack")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x" * 500)
    partial = orphan.parent / ".half.partial"
    partial.write_bytes(b"y")
    assert gc.collect(repo, "gc")["freed_bytes"] == 500
    assert not orphan.exists() and not partial.exists()
    assert Repository(tmp_path).read_chunk(kept[0]) == b"kept" * 100


def test_a_deferred_collection_is_remembered_until_one_runs(tmp_path):
    repo = Repository(tmp_path)
    gc.defer(repo)
    assert gc.pending(repo)
    with repo.lock("backup-1"):
        with pytest.raises(locks.Busy):
            gc.collect(repo, "gc")
        assert gc.pending(repo)
    gc.collect(repo, "gc")
    assert not gc.pending(repo)
