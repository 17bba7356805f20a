"""The data movers. A backup reads only a volume's allocated extents (holes
are never read), cuts them into fixed chunks, skips all-zero chunks, hashes
the rest, compresses and stores those the repository lacks. A restore reads
a manifest's chunks, checks each one's hash, and writes them back; what the
manifest does not name stays (or becomes) a hole.

Reading, hashing/compressing and writing overlap: a reader thread, worker
threads (blake3 and zstd release the GIL), and the calling thread writing."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import queue
import threading
from typing import Callable, Iterable, Iterator

import zstandard

from backup.repository import ChunkError, Repository
from backup.repository.format import FLAG_ZSTD, chunk_hash
from backup.repository.manifests import Manifest
from backup.repository.packs import PackWriter

READ_SIZE = 4 * 1024 * 1024
WORKERS = 2
ZSTD_LEVEL = 1

Progress = Callable[[int, int], None]
# Called at every block; the caller decides how often it does anything.
Heartbeat = Callable[[], None]


@dataclasses.dataclass
class Stats:
    bytes_total: int = 0
    bytes_done: int = 0
    chunks: int = 0
    zero_chunks: int = 0
    new_chunks: int = 0
    stored_bytes: int = 0


def data_ranges(extents: Iterator[tuple[int, int, bool]], chunk_size: int, size: int) -> list[tuple[int, int]]:
    """The chunk-aligned (offset, length) ranges covering every data extent."""
    ranges: list[tuple[int, int]] = []
    for offset, length, data in extents:
        if not data:
            continue
        start = offset - offset % chunk_size
        end = min(-(-(offset + length) // chunk_size) * chunk_size, size)
        if ranges and start <= ranges[-1][0] + ranges[-1][1]:
            previous = ranges.pop()
            start, end = previous[0], max(end, previous[0] + previous[1])
        ranges.append((start, end - start))
    return ranges


class _BlockReader:
    """The reader thread: the volume's data ranges in blocks of READ_SIZE,
    handed over through a queue `depth` blocks deep; a read error is raised
    to whoever iterates."""

    def __init__(self, volume, ranges: list[tuple[int, int]], depth: int):
        self._blocks: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(volume, ranges), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        self._thread.join(timeout=30)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while (item := self._blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _read(self, volume, ranges: list[tuple[int, int]]) -> None:
        blocks = ((offset, min(READ_SIZE, start + length - offset))
                  for start, length in ranges for offset in range(start, start + length, READ_SIZE))
        reads = volume.read_blocks(blocks)
        try:
            for offset, block in reads:
                if self._stop.is_set():
                    return
                self._blocks.put((offset, bytes(block)))
            self._blocks.put(None)
        except BaseException as exc:
            self._blocks.put(exc)
        finally:
            reads.close()


# (chunk number, hash, what to store or None when the repository has it, raw length)
Chunk = tuple[int, bytes, bytes | None, int]


class _Chunker:
    """Run on the worker threads: cuts a block into chunks, skips the all-zero
    ones, hashes the rest and compresses those the repository lacks."""

    def __init__(self, chunk_size: int, known):
        self.chunk_size, self.known = chunk_size, known
        self.zero = bytes(chunk_size)
        self.local = threading.local()

    def __call__(self, offset: int, block: bytes) -> tuple[int, list[Chunk]]:
        """The block's length and its chunks."""
        compressor = self.local.__dict__.get("zstd") or self.local.__dict__.setdefault(
            "zstd", zstandard.ZstdCompressor(level=ZSTD_LEVEL))
        out = []
        for i in range(0, len(block), self.chunk_size):
            data = block[i:i + self.chunk_size]
            if data == self.zero[:len(data)]:
                continue
            digest = chunk_hash(data)
            blob = None
            if digest not in self.known:
                squeezed = compressor.compress(data)
                blob = squeezed if len(squeezed) < len(data) else data
            out.append(((offset + i) // self.chunk_size, digest, blob, len(data)))
        return len(block), out


class _ChunkWriter:
    """The calling thread's stage: names every chunk in the manifest and packs
    each one the repository lacks once; commit() makes them durable."""

    def __init__(self, repo: Repository, manifest: Manifest, stats: Stats, known):
        self.repo, self.manifest, self.stats, self.known = repo, manifest, stats, known
        self.pack = PackWriter(repo.root)
        self.written: set[bytes] = set()

    def add(self, chunks: list[Chunk]) -> None:
        for number, digest, blob, raw_length in chunks:
            self.manifest.chunks.append((number, digest))
            if blob is not None and digest not in self.known and digest not in self.written:
                flags = FLAG_ZSTD if len(blob) < raw_length else 0
                self.pack.add(digest, blob, raw_length, flags)
                self.written.add(digest)
                self.stats.new_chunks += 1
                self.stats.stored_bytes += len(blob)

    def commit(self) -> None:
        self.repo.learn(self.pack.commit())

    def abandon(self) -> None:
        self.pack.abandon()


def backup(
    repo: Repository, volume, manifest: Manifest, progress: Progress, heartbeat: Heartbeat, workers: int = WORKERS,
) -> Stats:
    """Fills manifest.chunks and stores the chunks the repository lacks;
    every chunk named is durable before this returns."""
    chunk_size = repo.chunk_size
    repo.refresh_index()
    known = repo.index
    chunker = _Chunker(chunk_size, known)
    ranges = data_ranges(volume.extents(), chunk_size, volume.size)
    stats = Stats(bytes_total=sum(length for _, length in ranges))
    reader = _BlockReader(volume, ranges, depth=2 * workers + 2)
    writer = _ChunkWriter(repo, manifest, stats, known)
    reader.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="backup-worker") as pool:
            for length, chunks in _run_ahead(pool, chunker, reader, 2 * workers):
                writer.add(chunks)
                stats.bytes_done += length
                progress(stats.bytes_done, stats.bytes_total)
                heartbeat()
        writer.commit()
    except BaseException:
        reader.stop()
        writer.abandon()
        raise
    finally:
        reader.join()
    manifest.chunks.sort()
    stats.chunks = len(manifest.chunks)
    stats.zero_chunks = stats.bytes_total // chunk_size - stats.chunks if stats.bytes_total else 0
    return stats


def _run_ahead(pool: concurrent.futures.Executor, work: Callable, calls: Iterable[tuple], depth: int) -> Iterator:
    """work(*args) for each of `calls`, at most `depth` of them in flight on
    `pool`, the results in order."""
    futures: collections.deque = collections.deque()
    for args in calls:
        futures.append(pool.submit(work, *args))
        if len(futures) >= depth:
            yield futures.popleft().result()
    while futures:
        yield futures.popleft().result()


def _fetched(chunks: list, read: Callable[[list], list], workers: int, batch: int) -> Iterator[list]:
    """read(group) for groups of `batch` chunks, run ahead on `workers`
    threads, results in order."""
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="chunk-reader") as pool:
        groups = ((chunks[i:i + batch],) for i in range(0, len(chunks), batch))
        yield from _run_ahead(pool, read, groups, 2 * workers)


def restore(
    repo: Repository, manifest: Manifest, volume, progress: Progress, heartbeat: Heartbeat, fill_holes: bool,
    workers: int = WORKERS, batch: int = 64,
) -> Stats:
    """Writes the backup onto `volume`, checking every chunk's hash first
    (ChunkError names a bad one). With fill_holes, space the manifest does
    not name is made a hole (an existing volume's old data must not stay)."""
    if volume.size < manifest.size:
        raise ValueError(f"the target holds {volume.size} bytes, the backup {manifest.size}")
    chunk_size = manifest.chunk_size
    stats = Stats(bytes_total=len(manifest.chunks) * chunk_size)
    repo.refresh_index()

    def read(group: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        return [(number * chunk_size, repo.read_chunk(digest)) for number, digest in group]

    position = 0
    for chunks in _fetched(manifest.chunks, read, workers, batch):
        position = _write(volume, chunks, position, fill_holes, stats)
        progress(stats.bytes_done, stats.bytes_total)
        heartbeat()
    if fill_holes and position < volume.size:
        volume.zero(volume.size - position, position)
    volume.flush()
    stats.chunks = len(manifest.chunks)
    return stats


def _write(volume, chunks: list[tuple[int, bytes]], position: int, fill_holes: bool, stats: Stats) -> int:
    """Writes runs of adjacent chunks in one call; returns the end written."""
    run_start, run = None, []
    for offset, data in chunks:
        if fill_holes and offset > position:
            volume.zero(offset - position, position)
        if run_start is not None and offset != run_start + sum(len(d) for d in run):
            volume.pwrite(b"".join(run), run_start)
            run_start, run = None, []
        if run_start is None:
            run_start = offset
        run.append(data)
        position = offset + len(data)
        stats.bytes_done += len(data)
    if run:
        volume.pwrite(b"".join(run), run_start)
    return position


def verify(
    repo: Repository, manifest: Manifest, progress: Progress, heartbeat: Heartbeat, workers: int = WORKERS,
    batch: int = 64,
) -> tuple[Stats, list[ChunkError]]:
    """Reads and checks every chunk the manifest names, without writing
    anything; returns what it checked and every bad chunk."""
    stats = Stats(bytes_total=len(manifest.chunks) * manifest.chunk_size)
    problems: list[ChunkError] = []
    repo.refresh_index()

    def read(group: list[tuple[int, bytes]]) -> list[tuple[int, ChunkError | None]]:
        checked = []
        for _, digest in group:
            try:
                checked.append((len(repo.read_chunk(digest)), None))
            except ChunkError as exc:
                checked.append((0, exc))
        return checked

    for checked in _fetched(manifest.chunks, read, workers, batch):
        for length, problem in checked:
            stats.chunks += 1
            stats.bytes_done += length
            if problem:
                problems.append(problem)
        progress(stats.bytes_done, stats.bytes_total)
        heartbeat()
    return stats, problems
