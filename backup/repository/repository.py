"""The repository as the backup service uses it: where things are, the
index of every chunk (hash -> pack location), reading a chunk back with its
hash checked, and locks."""

from __future__ import annotations

import json
import os
import pathlib
import threading

import zstandard

from ember import files
from backup.repository import locks, manifests, packs
from backup.repository.format import CHUNK_SIZE, FLAG_ZSTD, HASH_NAME, VERSION, Location, chunk_hash


class ChunkError(RuntimeError):
    """A chunk is missing or does not match its hash; str() names it."""

    def __init__(self, digest: bytes, why: str):
        super().__init__(f"chunk {digest.hex()} {why}")
        self.digest = digest.hex()


class Repository:
    def __init__(self, root: pathlib.Path):
        self.root = root
        for directory in ("packs", "manifests", "locks"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        config = root / "config.json"
        if not config.exists():
            files.atomic_write(config, json.dumps(
                {"version": VERSION, "chunk_size": CHUNK_SIZE, "hash": HASH_NAME, "compression": "zstd"}
            ).encode())
        settings = json.loads(config.read_text())
        if settings["version"] != VERSION or settings["chunk_size"] != CHUNK_SIZE:
            raise RuntimeError(f"{root} is a repository of another format ({settings}); this Ember writes v{VERSION}")
        self.chunk_size = CHUNK_SIZE
        self.index: dict[bytes, Location] = {}
        self._loaded: set[str] = set()
        self._index_lock = threading.Lock()
        # One descriptor per pack, shared by every thread (pread needs no seek).
        self._fds: dict[str, int] = {}
        self._fd_lock = threading.Lock()

    # Index

    def refresh_index(self) -> None:
        """Loads the indexes of packs committed since the last look and
        forgets packs garbage collection removed (by any host)."""
        present = {path.stem: path for path in (self.root / "packs").glob("*/*.idx")}
        for pack in self._loaded - present.keys():
            self.forget_pack(pack)
        with self._index_lock:
            for pack, path in present.items():
                if pack not in self._loaded:
                    try:
                        entries = packs.read_index(path)
                    except FileNotFoundError:
                        continue
                    for digest, location in entries:
                        self.index.setdefault(digest, location)
                    self._loaded.add(pack)

    def forget_pack(self, pack: str) -> None:
        with self._index_lock:
            self._loaded.discard(pack)
            for digest in [d for d, loc in self.index.items() if loc.pack == pack]:
                del self.index[digest]
        with self._fd_lock:
            fd = self._fds.pop(pack, None)
        if fd is not None:
            os.close(fd)

    def learn(self, entries: list[tuple[bytes, Location]]) -> None:
        with self._index_lock:
            for digest, location in entries:
                self.index.setdefault(digest, location)
                self._loaded.add(location.pack)

    # Chunks

    def _fd(self, pack: str) -> int:
        with self._fd_lock:
            fd = self._fds.get(pack)
            if fd is None:
                fd = self._fds[pack] = os.open(packs.pack_path(self.root, pack, ".pack"), os.O_RDONLY)
            return fd

    def read_blob(self, location: Location) -> bytes:
        """A chunk as stored (compressed or not), unchecked."""
        return os.pread(self._fd(location.pack), location.length, location.offset)

    def _locate(self, digest: bytes) -> Location:
        location = self.index.get(digest)
        if location is None:
            self.refresh_index()
            location = self.index.get(digest)
        if location is None:
            raise ChunkError(digest, "is not in the repository")
        return location

    def read_chunk(self, digest: bytes) -> bytes:
        """The chunk's data, checked against its hash; ChunkError if it is
        missing or does not match."""
        location = self._locate(digest)
        try:
            try:
                blob = self.read_blob(location)
            except FileNotFoundError:
                # Another host's garbage collection moved it to a new pack.
                self.refresh_index()
                location = self._locate(digest)
                blob = self.read_blob(location)
            if len(blob) != location.length:
                raise ChunkError(digest, f"is cut short in pack {location.pack}")
            data = zstandard.ZstdDecompressor().decompress(blob) if location.flags & FLAG_ZSTD else blob
        except (OSError, zstandard.ZstdError) as exc:
            raise ChunkError(digest, f"cannot be read from pack {location.pack}: {exc}")
        if len(data) != location.raw_length or chunk_hash(data) != digest:
            raise ChunkError(digest, f"in pack {location.pack} does not match its hash (corrupt)")
        return data

    def close(self) -> None:
        with self._fd_lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    # Manifests and locks

    def write_manifest(self, manifest: manifests.Manifest) -> None:
        manifests.write(self.root, manifest)

    def read_manifest(self, backup_id: str) -> manifests.Manifest:
        return manifests.read(self.root, backup_id)

    def has_manifest(self, backup_id: str) -> bool:
        return manifests.path(self.root, backup_id).exists()

    def delete_manifest(self, backup_id: str) -> None:
        manifests.path(self.root, backup_id).unlink(missing_ok=True)
        files.sync_directory(self.root / "manifests")

    def lock(self, holder: str, kind: str = locks.SHARED) -> locks.Lock:
        return locks.take(self.root, holder, kind)
