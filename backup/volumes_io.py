"""Reading and writing volumes for backups and restores: a file on this host
(the "local" export) or an NBD export (through libnbd), behind one small
interface: size, extents, pread_into, read_blocks, pwrite, zero, flush."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Iterable, Iterator

from backup.nbd_client import NbdClient
from ember import nbd_psk

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
SYNC_FILE_RANGE_WRITE = 2


class FileVolume:
    def __init__(self, path: str, writable: bool = False):
        self.fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size

    def extents(self) -> Iterator[tuple[int, int, bool]]:
        """(offset, length, data) covering the file; holes have data False."""
        offset = 0
        while offset < self.size:
            try:
                start = os.lseek(self.fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                start = self.size
            if start > offset:
                yield offset, start - offset, False
            if start >= self.size:
                return
            end = min(os.lseek(self.fd, start, os.SEEK_HOLE), self.size)
            yield start, end - start, True
            offset = end

    def pread_into(self, buffer: bytearray, offset: int) -> None:
        view = memoryview(buffer)
        done = 0
        while done < len(buffer):
            n = os.preadv(self.fd, [view[done:]], offset + done)
            if n == 0:
                view[done:] = bytes(len(buffer) - done)
                return
            done += n

    def read_blocks(self, blocks: Iterable[tuple[int, int]]) -> Iterator[tuple[int, bytearray]]:
        """(offset, data) of each (offset, length) block, in order; the
        kernel's readahead keeps the disk ahead of these."""
        for offset, length in blocks:
            buffer = bytearray(length)
            self.pread_into(buffer, offset)
            yield offset, buffer

    def pwrite(self, data, offset: int) -> None:
        start = offset
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, offset)
            view, offset = view[n:], offset + n
        # Start writing back now, so the disk works while we compute and the
        # final fsync has little left to wait for.
        _libc.sync_file_range(self.fd, start, offset - start, SYNC_FILE_RANGE_WRITE)

    def zero(self, length: int, offset: int) -> None:
        """Back to a hole (what a volume's unwritten space is)."""
        if _libc.fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
            raise OSError(ctypes.get_errno(), f"cannot punch a hole at {offset}")

    def flush(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class NbdVolume(NbdClient):
    """The same interface over an NBD export."""


def open_volume(connection_info: dict, writable: bool = False):
    kind = connection_info["driver_volume_type"]
    if kind == "local":
        return FileVolume(connection_info["data"]["device_path"], writable)
    if kind == "nbd":
        data = connection_info["data"]
        return NbdVolume(data["uri"], psk=nbd_psk.of(data))
    raise ValueError(f"cannot read a {kind!r} export")
