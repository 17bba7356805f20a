"""The file backend: every volume is a raw file in a pool directory: sparse on
a thin backend, so a 1 TiB volume takes no space until written, and fully
allocated up front on a thick one."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
import time
from typing import TYPE_CHECKING

from ember import failpoints

if TYPE_CHECKING:
    from volume.backends import BackendConfig

GIB = 1024**3
# Allocated space is only known by scanning every volume file, so a report
# reuses a scan this recent; the provisioned figures are kept exact as
# volumes come and go.
SCAN_INTERVAL = 5.0


@dataclasses.dataclass
class PoolReport:
    pool: str
    total_capacity_gb: float
    free_capacity_gb: float
    provisioned_capacity_gb: float
    volume_count: int


@dataclasses.dataclass
class _Tally:
    sizes: dict[str, int]
    allocated: int
    scanned_at: float


class FileDriver:
    def __init__(self, root: pathlib.Path, config: "BackendConfig"):
        self.root = root
        self.config = config
        self.backend = config.name
        self.pools = list(config.pools)
        self.capacity_gb = config.capacity_gb
        self.capabilities = {
            "driver": "file",
            "storage_protocol": "file",
            "volume_backend_name": config.name,
            "thin_provisioning_support": str(config.thin),
            "thick_provisioning_support": str(not config.thin),
            "multiattach": "True",
            **config.capabilities,
        }
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}
        for pool in self.pools:
            (root / pool).mkdir(parents=True, exist_ok=True)
            sizes, allocated = self._scan(pool)
            self._tallies[pool] = _Tally(sizes, allocated, time.monotonic())

    def path(self, pool: str, volume_id: str) -> pathlib.Path:
        if pool not in self.pools:
            raise ValueError(f"unknown pool {pool!r}; this backend has {', '.join(self.pools)}")
        return self.root / pool / f"volume-{volume_id}"

    def create(self, pool: str, volume_id: str, size_gb: int) -> pathlib.Path:
        """Idempotent: a retry after a crash finds the file and fixes its size."""
        failpoints.hit("volume.driver.create")
        path = self.path(pool, volume_id)
        with open(path, "ab") as f:
            f.truncate(size_gb * GIB)
            if not self.config.thin:
                os.posix_fallocate(f.fileno(), 0, size_gb * GIB)
            os.fsync(f.fileno())
        with self._lock:
            self._tallies[pool].sizes[path.name] = size_gb * GIB
        return path

    def delete(self, pool: str, volume_id: str) -> None:
        path = self.path(pool, volume_id)
        path.unlink(missing_ok=True)
        with self._lock:
            self._tallies[pool].sizes.pop(path.name, None)

    def _scan(self, pool: str) -> tuple[dict[str, int], int]:
        """Each volume file's size, and the bytes they all have allocated."""
        sizes, allocated = {}, 0
        for entry in os.scandir(self.root / pool):
            if entry.name.startswith("volume-") and entry.is_file():
                st = entry.stat()
                sizes[entry.name] = st.st_size
                allocated += st.st_blocks * 512
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
