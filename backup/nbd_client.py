"""An NBD client: libnbd (Debian's libnbd0, the library behind nbdcopy and
nbdinfo) called through ctypes, for the backup service's reads and writes.
Calls run without the GIL, so reading overlaps hashing and compressing."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Iterator

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint32),
    ctypes.c_size_t, ctypes.POINTER(ctypes.c_int),
)
_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
HOLE = 1  # base:allocation flag of an extent that is not allocated
ZERO = 2  # ... that reads as zeros


class _ExtentCallback(ctypes.Structure):
    _fields_ = [("callback", _CALLBACK), ("user_data", ctypes.c_void_p), ("free", _FREE)]


class NbdError(OSError):
    """A libnbd call failed; str() carries libnbd's message."""


def _library() -> ctypes.CDLL:
    path = ctypes.util.find_library("nbd")
    if path is None:
        raise NbdError("libnbd is not installed (Debian package libnbd0, which libnbd-bin brings)")
    lib = ctypes.CDLL(path)
    lib.nbd_create.restype = ctypes.c_void_p
    lib.nbd_get_error.restype = ctypes.c_char_p
    lib.nbd_get_size.restype = ctypes.c_int64
    for name in ("nbd_close",):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.nbd_connect_uri.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nbd_add_meta_context.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nbd_get_size.argtypes = [ctypes.c_void_p]
    lib.nbd_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_zero.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_flush.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.nbd_block_status.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, _ExtentCallback, ctypes.c_uint32]
    return lib


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _library()
    return _lib


class NbdClient:
    """One connection to an export; not shared between threads."""

    def __init__(self, uri: str):
        self._h = lib().nbd_create()
        if not self._h:
            raise NbdError(self._error())
        self._check(lib().nbd_add_meta_context(self._h, b"base:allocation"))
        self._check(lib().nbd_connect_uri(self._h, uri.encode()))
        self.size = lib().nbd_get_size(self._h)
        if self.size < 0:
            raise NbdError(self._error())

    @staticmethod
    def _error() -> str:
        message = lib().nbd_get_error()
        return message.decode(errors="replace") if message else "unknown libnbd error"

    def _check(self, result: int) -> None:
        if result == -1:
            raise NbdError(self._error())

    def pread_into(self, buffer, offset: int) -> None:
        view = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        self._check(lib().nbd_pread(self._h, view, len(buffer), offset, 0))

    def pread(self, length: int, offset: int) -> bytes:
        buffer = bytearray(length)
        self.pread_into(buffer, offset)
        return bytes(buffer)

    def pwrite(self, data: bytes, offset: int) -> None:
        self._check(lib().nbd_pwrite(self._h, data, len(data), offset, 0))

    def zero(self, length: int, offset: int) -> None:
        self._check(lib().nbd_zero(self._h, length, offset, 0))

    def flush(self) -> None:
        self._check(lib().nbd_flush(self._h, 0))

    def allocated(self, offset: int, length: int) -> list[tuple[int, int, int]]:
        """(offset, length, flags) of the extents the server reports from
        `offset`; the server may describe less than `length`."""
        found: list[tuple[int, int, int]] = []

        def collect(user_data, context, start, entries, count, error):
            if context == b"base:allocation":
                position = start
                for i in range(0, count, 2):
                    found.append((position, entries[i], entries[i + 1]))
                    position += entries[i]
            return 0

        callback = _ExtentCallback(_CALLBACK(collect), None, _FREE(0))
        self._check(lib().nbd_block_status(self._h, length, offset, callback, 0))
        return found

    def extents(self, step: int = 1 << 30) -> Iterator[tuple[int, int, bool]]:
        """(offset, length, data) covering the whole export; data is False
        for extents that read as zeros."""
        offset = 0
        while offset < self.size:
            reported = self.allocated(offset, min(step, self.size - offset))
            if not reported:
                raise NbdError(f"the server described no extent at offset {offset}")
            for start, length, flags in reported:
                length = min(length, self.size - start)
                if length > 0:
                    yield start, length, not flags & ZERO
                offset = start + length

    def close(self) -> None:
        if self._h:
            lib().nbd_close(self._h)
            self._h = None

    def __enter__(self) -> "NbdClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
