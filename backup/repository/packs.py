"""Pack files: many chunks in one file, so a repository of a large volume is
a few thousand files, not millions. A pack is written under a temporary
name, fsynced, renamed, and only then indexed; a pack without an index is
an interrupted write that garbage collection removes."""

from __future__ import annotations

import os
import pathlib
import uuid

from ember import files
from backup.repository.format import IDX, Location

PACK_TARGET = 32 * 1024 * 1024


def pack_path(root: pathlib.Path, pack: str, suffix: str) -> pathlib.Path:
    return root / "packs" / pack[:2] / f"{pack}{suffix}"


def read_index(path: pathlib.Path) -> list[tuple[bytes, Location]]:
    data = path.read_bytes()
    pack = path.stem
    return [
        (digest, Location(pack, offset, length, raw_length, flags))
        for digest, offset, length, raw_length, flags in IDX.iter_unpack(data)
    ]


def write_index(root: pathlib.Path, pack: str, entries: list[tuple[bytes, Location]]) -> None:
    body = b"".join(IDX.pack(d, loc.offset, loc.length, loc.raw_length, loc.flags) for d, loc in entries)
    files.atomic_write(pack_path(root, pack, ".idx"), body)


class PackWriter:
    """Appends blobs to packs of about PACK_TARGET bytes; commit() makes what
    was added durable and indexed, and returns the new entries."""

    def __init__(self, root: pathlib.Path, target: int = PACK_TARGET):
        self.root, self.target = root, target
        self._file = None
        self._entries: list[tuple[bytes, Location]] = []
        self._committed: list[tuple[bytes, Location]] = []

    def _open(self) -> None:
        self.pack = uuid.uuid4().hex
        final = pack_path(self.root, self.pack, ".pack")
        final.parent.mkdir(parents=True, exist_ok=True)
        self._partial = files.partial_name(final)
        self._file = open(self._partial, "wb")
        self._offset = 0

    def add(self, digest: bytes, blob: bytes, raw_length: int, flags: int) -> None:
        if self._file is None:
            self._open()
        self._file.write(blob)
        self._entries.append((digest, Location(self.pack, self._offset, len(blob), raw_length, flags)))
        self._offset += len(blob)
        if self._offset >= self.target:
            self._seal()

    def _seal(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        files.publish(self._partial, pack_path(self.root, self.pack, ".pack"))
        write_index(self.root, self.pack, self._entries)
        self._committed += self._entries
        self._entries = []

    def commit(self) -> list[tuple[bytes, Location]]:
        if self._file is not None:
            self._seal()
        committed, self._committed = self._committed, []
        return committed

    def abandon(self) -> None:
        """After a failure: the open pack is dropped (sealed ones stay, for dedupe)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._partial.unlink(missing_ok=True)
        self._entries = []
