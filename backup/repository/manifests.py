"""Manifests: what one backup holds, self-contained (every chunk it needs is
listed, so no backup depends on another), written atomically once every
chunk it names is durable in a pack."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from ember import files
from backup.repository.format import HEADER_LENGTH, MANIFEST_MAGIC, RECORD


@dataclasses.dataclass
class Manifest:
    backup_id: str
    volume_id: str
    size: int
    chunk_size: int
    created_at: str
    parent_id: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    # (chunk number, hash) of every chunk that is not all zeros, in order.
    chunks: list[tuple[int, bytes]] = dataclasses.field(default_factory=list)

    def header(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        del fields["chunks"]
        return fields


def path(root: pathlib.Path, backup_id: str) -> pathlib.Path:
    return root / "manifests" / backup_id


def encode(manifest: Manifest) -> bytes:
    header = json.dumps(manifest.header(), sort_keys=True).encode()
    body = b"".join(RECORD.pack(number, digest) for number, digest in manifest.chunks)
    return MANIFEST_MAGIC + HEADER_LENGTH.pack(len(header)) + header + body


def decode(data: bytes) -> Manifest:
    if not data.startswith(MANIFEST_MAGIC):
        raise ValueError("not an Ember backup manifest")
    start = len(MANIFEST_MAGIC)
    (length,) = HEADER_LENGTH.unpack_from(data, start)
    start += HEADER_LENGTH.size
    header = json.loads(data[start:start + length])
    return Manifest(**header, chunks=list(RECORD.iter_unpack(data[start + length:])))


def write(root: pathlib.Path, manifest: Manifest) -> None:
    target = path(root, manifest.backup_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(target, encode(manifest))


def read(root: pathlib.Path, backup_id: str) -> Manifest:
    return decode(path(root, backup_id).read_bytes())


def backup_ids(root: pathlib.Path) -> list[str]:
    directory = root / "manifests"
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) if directory.exists() else []
