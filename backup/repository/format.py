"""The repository's on-disk formats, in one place.

    config.json                   {"version", "chunk_size", "hash", "compression"}
    packs/<ab>/<pack>.pack        blobs back to back: zstd frames, or raw chunks
    packs/<ab>/<pack>.idx         one IDX record per blob (written after the pack)
    manifests/<backup id>         MANIFEST_MAGIC, u32 header length, JSON header,
                                  then one RECORD per non-zero chunk, by chunk number
    locks/<holder>.<kind>         shared (backups) and exclusive (garbage collection)
"""

from __future__ import annotations

import dataclasses
import struct

import blake3

VERSION = 1
CHUNK_SIZE = 32 * 1024
HASH_NAME = "blake3"
IDX = struct.Struct("<32sQIIB")  # hash, offset in the pack, stored length, raw length, flags
FLAG_ZSTD = 1
MANIFEST_MAGIC = b"EMBERMF1"
HEADER_LENGTH = struct.Struct("<I")
RECORD = struct.Struct("<I32s")  # chunk number, hash


def chunk_hash(data) -> bytes:
    return blake3.blake3(data).digest()


@dataclasses.dataclass(frozen=True)
class Location:
    pack: str
    offset: int
    length: int
    raw_length: int
    flags: int
