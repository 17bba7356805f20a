"""The file backend: every volume is a raw file in a pool directory: sparse on
a thin backend, so a 1 TiB volume takes no space until written, and fully
allocated up front on a thick one."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
import time

from ember import failpoints
from volume.drivers import copy
from volume.drivers.base import BackendConfig, Driver, PoolReport

GIB = 1024**3
# Allocated space is only known by scanning every volume file, so a report
# reuses a scan this recent; the provisioned figures are kept exact as
# volumes come and go.
SCAN_INTERVAL = 5.0


@dataclasses.dataclass
class _Tally:
    sizes: dict[str, int]
    allocated: int
    scanned_at: float


class FileDriver(Driver):
    name = "file"
    storage_protocol = "file"
    multiattach = True

    def __init__(self, root: pathlib.Path, config: BackendConfig):
        super().__init__(root, config)
        self.capacity_gb = config.capacity_gb
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}
        for pool in self.pools:
            (root / pool).mkdir(parents=True, exist_ok=True)
            sizes, allocated = self._scan(pool)
            self._tallies[pool] = _Tally(sizes, allocated, time.monotonic())

    def _pool_dir(self, pool: str) -> pathlib.Path:
        if pool not in self.pools:
            raise ValueError(f"unknown pool {pool!r}; this backend has {', '.join(self.pools)}")
        return self.root / pool

    def path(self, pool: str, volume_id: str) -> pathlib.Path:
        return self._pool_dir(pool) / f"volume-{volume_id}"

    def create(self, pool: str, volume_id: str, size_gb: int) -> pathlib.Path:
        """Idempotent: a retry after a crash finds the file and fixes its size."""
        failpoints.hit("volume.driver.create")
        path = self.path(pool, volume_id)
        with open(path, "ab") as f:
            f.truncate(size_gb * GIB)
            os.fsync(f.fileno())
        if not self.config.thin:
            self._allocate(path, size_gb)
        with self._lock:
            self._tallies[pool].sizes[path.name] = size_gb * GIB
        return path

    def delete(self, pool: str, volume_id: str) -> None:
        path = self.path(pool, volume_id)
        path.unlink(missing_ok=True)
        with self._lock:
            self._tallies[pool].sizes.pop(path.name, None)

    def snapshot_path(self, pool: str, snapshot_id: str) -> pathlib.Path:
        return self._pool_dir(pool) / f"snapshot-{snapshot_id}"

    def create_snapshot(self, pool: str, volume_id: str, snapshot_id: str, progress=None) -> str:
        """Copies the volume's data as it is now; holes are not copied."""
        source = self.path(pool, volume_id)
        return copy.sparse_copy(source, self.snapshot_path(pool, snapshot_id), source.stat().st_size, progress)

    def delete_snapshot(self, pool: str, snapshot_id: str) -> None:
        self.snapshot_path(pool, snapshot_id).unlink(missing_ok=True)

    def create_from(self, pool: str, volume_id: str, size_gb: int, source: pathlib.Path, progress=None) -> str:
        """A new volume holding the data of `source` (a snapshot or another
        volume of this backend), extended to size_gb."""
        how = copy.sparse_copy(source, self.path(pool, volume_id), size_gb * GIB, progress)
        if not self.config.thin:
            self._allocate(self.path(pool, volume_id), size_gb)
        with self._lock:
            self._tallies[pool].sizes[f"volume-{volume_id}"] = size_gb * GIB
        return how

    def extend(self, pool: str, volume_id: str, size_gb: int) -> None:
        """Idempotent: a volume already that large is left alone."""
        failpoints.hit("volume.driver.extend")
        path = self.path(pool, volume_id)
        with open(path, "r+b") as f:
            if os.fstat(f.fileno()).st_size < size_gb * GIB:
                f.truncate(size_gb * GIB)
            os.fsync(f.fileno())
        if not self.config.thin:
            self._allocate(path, size_gb)
        with self._lock:
            self._tallies[pool].sizes[path.name] = size_gb * GIB

    def _allocate(self, path: pathlib.Path, size_gb: int) -> None:
        with open(path, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, size_gb * GIB)
            os.fsync(f.fileno())

    def _scan(self, pool: str) -> tuple[dict[str, int], int]:
        """Each volume file's size, and the bytes they all have allocated."""
        sizes, allocated = {}, 0
        for entry in os.scandir(self.root / pool):
            if entry.name.startswith(("volume-", "snapshot-")) and entry.is_file():
                st = entry.stat()
                allocated += st.st_blocks * 512
                if entry.name.startswith("volume-"):
                    sizes[entry.name] = st.st_size
        return sizes, allocated

    def report(self, pool: str) -> PoolReport:
        tally = self._tallies[pool]
        if time.monotonic() - tally.scanned_at > SCAN_INTERVAL:
            tally.allocated = self._scan(pool)[1]
            tally.scanned_at = time.monotonic()
        with self._lock:
            provisioned, count = sum(tally.sizes.values()), len(tally.sizes)
        fs = os.statvfs(self.root / pool)
        fs_free = fs.f_bavail * fs.f_frsize / GIB
        if self.capacity_gb:
            total = self.capacity_gb
            free = min(fs_free, total - tally.allocated / GIB)
        else:
            total, free = fs.f_blocks * fs.f_frsize / GIB, fs_free
        return PoolReport(pool, round(total, 3), round(max(free, 0.0), 3), provisioned / GIB, count)
