"""An NBD client: libnbd (Debian's libnbd0, the library behind nbdcopy and
nbdinfo) called through ctypes, for the backup service's reads and writes.
Calls run without the GIL, so reading overlaps hashing and compressing.

Reads and writes keep several requests in flight: with one at a time, each
request waits out a whole round trip (the server's read, its copy into the
socket, the copy out of it) before the next leaves (docs/benchmarks.md,
Profiles). An export that requires TLS-PSK is given its key through a
private file that lives only while the connection is made."""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
from typing import Iterable, Iterator

from ember import nbd_psk

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint32),
    ctypes.c_size_t, ctypes.POINTER(ctypes.c_int),
)
_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
HOLE = 1  # base:allocation flag of an extent that is not allocated
ZERO = 2  # ... that reads as zeros


# Requests in flight per connection: as many as QEMU's NBD client keeps.
DEPTH = 16
# nbd_set_tls: refuse to go on without TLS.
LIBNBD_TLS_REQUIRE = 2


class _ExtentCallback(ctypes.Structure):
    _fields_ = [("callback", _CALLBACK), ("user_data", ctypes.c_void_p), ("free", _FREE)]


class _Completion(ctypes.Structure):
    """libnbd's nbd_completion_callback; all NULL, as completion is polled for."""
    _fields_ = [("callback", ctypes.c_void_p), ("user_data", ctypes.c_void_p), ("free", ctypes.c_void_p)]


class NbdError(OSError):
    """A libnbd call failed; str() carries libnbd's message."""


class _Failed(NbdError):
    """The server failed a command (the connection itself is fine)."""


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
    lib.nbd_set_tls.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.nbd_set_tls_username.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nbd_set_tls_psk_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nbd_add_meta_context.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nbd_get_size.argtypes = [ctypes.c_void_p]
    lib.nbd_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_zero.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32]
    lib.nbd_flush.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.nbd_block_status.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, _ExtentCallback, ctypes.c_uint32]
    for name in ("nbd_aio_pread", "nbd_aio_pwrite"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64,
                                       _Completion, ctypes.c_uint32]
        getattr(lib, name).restype = ctypes.c_int64
    lib.nbd_aio_zero.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, _Completion, ctypes.c_uint32]
    lib.nbd_aio_zero.restype = ctypes.c_int64
    lib.nbd_aio_command_completed.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    lib.nbd_poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _library()
    return _lib


class NbdClient:
    """One connection to an export; not shared between threads.

    pwrite and zero return once their request is queued; flush (and close)
    wait for every one of them, and a failed one raises from the next call
    that waits. A write overlapping one still in flight waits for it first,
    as the server may carry out requests in flight in any order."""

    def __init__(self, uri: str, depth: int = DEPTH, psk: nbd_psk.Psk | None = None):
        self.depth = depth
        # (cookie, offset, length, what must live until the reply comes)
        self._writes: collections.deque = collections.deque()
        self._h = lib().nbd_create()
        if not self._h:
            raise NbdError(self._error())
        try:
            self._check(lib().nbd_add_meta_context(self._h, b"base:allocation"))
            if psk is None:
                self._check(lib().nbd_connect_uri(self._h, uri.encode()))
            else:
                self._connect_with(uri, psk)
            self.size = lib().nbd_get_size(self._h)
            if self.size < 0:
                raise NbdError(self._error())
        except NbdError:
            self.close()
            raise

    def _connect_with(self, uri: str, psk: nbd_psk.Psk) -> None:
        """TLS with this PSK or no connection; the TLS handshake reads the key
        file, so it can go once connected. An nbds:// URI keeps these
        settings; an nbd:// one would turn TLS off, so it is refused."""
        if not uri.startswith("nbds"):
            raise NbdError(f"{uri} is a plaintext URI but its export requires TLS")
        with nbd_psk.private_file(psk) as path:
            self._check(lib().nbd_set_tls(self._h, LIBNBD_TLS_REQUIRE))
            self._check(lib().nbd_set_tls_username(self._h, psk.identity.encode()))
            self._check(lib().nbd_set_tls_psk_file(self._h, str(path).encode()))
            self._check(lib().nbd_connect_uri(self._h, uri.encode()))

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

    def _issued(self, cookie: int) -> int:
        if cookie == -1:
            raise NbdError(self._error())
        return cookie

    def _wait(self, cookie: int) -> None:
        """Until the command's reply has come: _Failed if it failed (it is
        then retired), NbdError if the connection failed."""
        while True:
            done = lib().nbd_aio_command_completed(self._h, cookie)
            if done == 1:
                return
            if done == -1:
                raise _Failed(self._error())
            self._check(lib().nbd_poll(self._h, -1))

    def _retire(self, commands: collections.deque) -> None:
        """Waits for the oldest of `commands` and removes it once it is over."""
        try:
            self._wait(commands[0][0])
        except _Failed:
            commands.popleft()
            raise
        commands.popleft()

    def _settle(self, commands: collections.deque) -> None:
        """Waits for all of `commands`, whatever their outcome, unless the
        connection itself fails (then no reply will come)."""
        while commands:
            try:
                self._retire(commands)
            except _Failed:
                continue
            except NbdError:
                return

    def read_blocks(self, blocks: Iterable[tuple[int, int]]) -> Iterator[tuple[int, bytearray]]:
        """(offset, data) of each (offset, length) block, in order, with up
        to `depth` reads in flight."""
        in_flight: collections.deque = collections.deque()
        blocks = iter(blocks)
        try:
            while True:
                while len(in_flight) < self.depth and (block := next(blocks, None)) is not None:
                    offset, length = block
                    buffer = bytearray(length)
                    view = (ctypes.c_char * length).from_buffer(buffer)
                    cookie = self._issued(lib().nbd_aio_pread(self._h, view, length, offset, _Completion(), 0))
                    in_flight.append((cookie, offset, buffer, view))
                if not in_flight:
                    return
                _, offset, buffer, _ = in_flight[0]
                self._retire(in_flight)
                yield offset, buffer
        finally:
            # libnbd writes into the buffers until the replies come: keep
            # them until then, even when the reader stops early or fails.
            self._settle(in_flight)

    def _write_room(self, offset: int, length: int) -> None:
        while self._writes and (len(self._writes) >= self.depth or any(
                start < offset + length and offset < start + size for _, start, size, _ in self._writes)):
            self._retire(self._writes)

    def pwrite(self, data: bytes, offset: int) -> None:
        self._write_room(offset, len(data))
        cookie = self._issued(lib().nbd_aio_pwrite(self._h, data, len(data), offset, _Completion(), 0))
        self._writes.append((cookie, offset, len(data), data))

    def zero(self, length: int, offset: int) -> None:
        self._write_room(offset, length)
        cookie = self._issued(lib().nbd_aio_zero(self._h, length, offset, _Completion(), 0))
        self._writes.append((cookie, offset, length, None))

    def _drain(self) -> None:
        while self._writes:
            self._retire(self._writes)

    def flush(self) -> None:
        self._drain()
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
        """Waits for the writes in flight, then closes; as with a file, only
        flush() says whether they landed."""
        if self._h:
            self._settle(self._writes)
            self._writes.clear()
            lib().nbd_close(self._h)
            self._h = None

    def __enter__(self) -> "NbdClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
