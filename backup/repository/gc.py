"""Garbage collection: with the repository locked exclusively (no backup,
restore or verify is running), chunks no manifest names go. A pack whose
chunks are all dead is deleted; one that is mostly dead is rewritten with
its live chunks (the new pack is durable and indexed before the old one
goes); packs an interrupted backup left unindexed are deleted."""

from __future__ import annotations

import collections
import os

from backup.repository import locks, manifests, packs
from backup.repository.format import Location
from backup.repository.repository import Repository

# Left by a delete whose collection found the repository busy; whoever
# next finds it free collects.
PENDING = "gc.pending"
# A pack is rewritten once this share of its bytes is dead; below it the
# copy would cost more than the space is worth (later deletes tip it over).
REWRITE_DEAD_SHARE = 0.2


def _live_chunks(repo: Repository) -> set[bytes]:
    live: set[bytes] = set()
    for backup_id in manifests.backup_ids(repo.root):
        live.update(digest for _, digest in repo.read_manifest(backup_id).chunks)
    return live


def _packs(repo: Repository) -> dict[str, list[tuple[bytes, Location]]]:
    by_pack: dict[str, list[tuple[bytes, Location]]] = collections.defaultdict(list)
    for path in (repo.root / "packs").glob("*/*.idx"):
        for digest, location in packs.read_index(path):
            by_pack[location.pack].append((digest, location))
    return by_pack


def defer(repo: Repository) -> None:
    (repo.root / PENDING).touch()


def pending(repo: Repository) -> bool:
    return (repo.root / PENDING).exists()


def collect(repo: Repository, holder: str) -> dict[str, int]:
    """Raises locks.Busy while backups, restores or verifies hold the repository."""
    with repo.lock(holder, locks.EXCLUSIVE):
        # Cleared first: a delete that defers while this runs sets it again.
        (repo.root / PENDING).unlink(missing_ok=True)
        live = _live_chunks(repo)
        by_pack = _packs(repo)
        # A chunk stored twice (two backups raced) lives on in one pack only.
        home: dict[bytes, str] = {}
        for pack, entries in sorted(by_pack.items()):
            for digest, _ in entries:
                if digest in live:
                    home.setdefault(digest, pack)
        freed = rewritten = removed = 0
        for pack, entries in sorted(by_pack.items()):
            keep = [(d, loc) for d, loc in entries if home.get(d) == pack]
            total = sum(loc.length for _, loc in entries)
            dead = total - sum(loc.length for _, loc in keep)
            if not dead or (keep and dead < REWRITE_DEAD_SHARE * total):
                continue
            moved = []
            if keep:
                writer = packs.PackWriter(repo.root)
                for digest, location in keep:
                    writer.add(digest, repo.read_blob(location), location.raw_length, location.flags)
                moved = writer.commit()
                rewritten += 1
            else:
                removed += 1
            _remove(repo, pack)
            repo.learn(moved)
            freed += dead
        for pack_file in (repo.root / "packs").glob("*/*.pack"):
            if not pack_file.with_suffix(".idx").exists():
                freed += pack_file.stat().st_size
                pack_file.unlink()
        for partial in (repo.root / "packs").glob("*/.*.partial"):
            partial.unlink(missing_ok=True)
        return {"freed_bytes": freed, "packs_removed": removed, "packs_rewritten": rewritten}


def _remove(repo: Repository, pack: str) -> None:
    """The index goes first: a pack without an index is garbage, an index
    without its pack would be a lie."""
    packs.pack_path(repo.root, pack, ".idx").unlink(missing_ok=True)
    repo.forget_pack(pack)
    os.unlink(packs.pack_path(repo.root, pack, ".pack"))
