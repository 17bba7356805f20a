"""Copying volume files without copying what is not there: a reflink where
the filesystem shares extents (btrfs, XFS), else only the allocated extents
(SEEK_DATA/SEEK_HOLE) with in-kernel copy_file_range; holes stay holes.
The copy lands under a temporary name and is renamed into place once
complete, so a crash never leaves a half copy under the final name."""

from __future__ import annotations

import errno
import fcntl
import os
import pathlib
from typing import Callable, Iterator

from ember import files

FICLONE = 0x40049409
CHUNK = 8 * 1024 * 1024
Progress = Callable[[int, int], None]


def extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each allocated run of the file."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return
            raise
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end - start
        offset = end


def allocated_bytes(path: pathlib.Path) -> int:
    with open(path, "rb") as f:
        return sum(length for _, length in extents(f.fileno(), os.fstat(f.fileno()).st_size))


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF):
            return False
        raise
    return True


def _copy_extents(src: int, dst: int, size: int, progress: Progress | None) -> None:
    runs = list(extents(src, size))
    total, done = sum(length for _, length in runs), 0
    for start, length in runs:
        copied = 0
        while copied < length:
            n = os.copy_file_range(src, dst, min(CHUNK, length - copied), start + copied, start + copied)
            if n == 0:
                raise OSError(errno.EIO, f"short copy at offset {start + copied}")
            copied += n
            done += n
            if progress:
                progress(done, total)


def sparse_copy(source: pathlib.Path, destination: pathlib.Path, size: int, progress: Progress | None = None) -> str:
    """Copies `source` to `destination` (size `size`, larger than the source
    means a longer file); returns how: "reflink" or "extents". Idempotent:
    an existing destination is a finished copy."""
    if destination.exists():
        return "existing"
    partial = files.partial_name(destination)
    with open(source, "rb") as src, open(partial, "wb") as dst:
        how = "reflink" if _reflink(src.fileno(), dst.fileno()) else "extents"
        if how == "extents":
            _copy_extents(src.fileno(), dst.fileno(), os.fstat(src.fileno()).st_size, progress)
        dst.truncate(max(size, os.fstat(src.fileno()).st_size))
        os.fsync(dst.fileno())
    files.publish(partial, destination)
    return how
