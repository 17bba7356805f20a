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
from typing import Callable, Iterator

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


def _read_blocks(volume, ranges: list[tuple[int, int]], out: queue.Queue, stop: threading.Event) -> None:
    blocks = ((offset, min(READ_SIZE, start + length - offset))
              for start, length in ranges for offset in range(start, start + length, READ_SIZE))
    reads = volume.read_blocks(blocks)
    try:
        for offset, block in reads:
            if stop.is_set():
                return
            out.put((offset, bytes(block)))
        out.put(None)
    except BaseException as exc:
        out.put(exc)
    finally:
        reads.close()


def backup(
    repo: Repository, volume, manifest: Manifest, progress: Progress, heartbeat: Heartbeat, workers: int = WORKERS,
) -> Stats:
    """Fills manifest.chunks and stores the chunks the repository lacks;
    every chunk named is durable before this returns."""
    chunk_size = repo.chunk_size
    zero = bytes(chunk_size)
    local = threading.local()
    repo.refresh_index()
    known = repo.index

    def process(offset: int, block: bytes) -> list[tuple[int, bytes, bytes | None, int]]:
        compressor = local.__dict__.get("zstd") or local.__dict__.setdefault(
            "zstd", zstandard.ZstdCompressor(level=ZSTD_LEVEL))
        out = []
        for i in range(0, len(block), chunk_size):
            data = block[i:i + chunk_size]
            if data == zero[:len(data)]:
                continue
            digest = chunk_hash(data)
            blob = None
            if digest not in known:
                squeezed = compressor.compress(data)
                blob = squeezed if len(squeezed) < len(data) else data
            out.append(((offset + i) // chunk_size, digest, blob, len(data)))
        return out

    ranges = data_ranges(volume.extents(), chunk_size, volume.size)
    stats = Stats(bytes_total=sum(length for _, length in ranges))
    blocks: queue.Queue = queue.Queue(maxsize=2 * workers + 2)
    stop = threading.Event()
    reader = threading.Thread(target=_read_blocks, args=(volume, ranges, blocks, stop), daemon=True)
    writer = PackWriter(repo.root)
    written: set[bytes] = set()
    reader.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="backup-worker") as pool:
            pending: collections.deque = collections.deque()
            finished = False
            while not finished or pending:
                if not finished and len(pending) < 2 * workers:
                    item = blocks.get()
                    if isinstance(item, BaseException):
                        raise item
                    if item is None:
                        finished = True
                    else:
                        pending.append((len(item[1]), pool.submit(process, *item)))
                    continue
                length, future = pending.popleft()
                for number, digest, blob, raw_length in future.result():
                    manifest.chunks.append((number, digest))
                    if blob is not None and digest not in known and digest not in written:
                        flags = FLAG_ZSTD if len(blob) < raw_length else 0
                        writer.add(digest, blob, raw_length, flags)
                        written.add(digest)
                        stats.new_chunks += 1
                        stats.stored_bytes += len(blob)
                stats.bytes_done += length
                progress(stats.bytes_done, stats.bytes_total)
                heartbeat()
        repo.learn(writer.commit())
    except BaseException:
        stop.set()
        writer.abandon()
        raise
    finally:
        reader.join(timeout=30)
    manifest.chunks.sort()
    stats.chunks = len(manifest.chunks)
    stats.zero_chunks = stats.bytes_total // chunk_size - stats.chunks if stats.bytes_total else 0
    return stats


def _fetched(chunks: list, read: Callable[[list], list], workers: int, batch: int) -> Iterator[list]:
    """read(group) for groups of `batch` chunks, run ahead on `workers`
    threads, results in order."""
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="chunk-reader") as pool:
        futures: collections.deque = collections.deque()
        for i in range(0, len(chunks), batch):
            futures.append(pool.submit(read, chunks[i:i + batch]))
            if len(futures) >= 2 * workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()


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
