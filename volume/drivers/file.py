"""The file backend: every volume is a sparse raw file in a pool directory, so
provisioning is thin and creating a 1 TiB volume takes no space."""

from __future__ import annotations

import dataclasses
import os
import pathlib

GIB = 1024**3


@dataclasses.dataclass
class PoolReport:
    pool: str
    total_capacity_gb: float
    free_capacity_gb: float
    provisioned_capacity_gb: float
    volume_count: int


class FileDriver:
    backend = "file"
    capabilities = {"driver": "file", "storage_protocol": "file", "thin_provisioning_support": "True"}

    def __init__(self, root: pathlib.Path, pools: list[str], capacity_gb: float = 0.0):
        self.root = root
        self.pools = pools
        self.capacity_gb = capacity_gb
        for pool in pools:
            (root / pool).mkdir(parents=True, exist_ok=True)

    def path(self, pool: str, volume_id: str) -> pathlib.Path:
        if pool not in self.pools:
            raise ValueError(f"unknown pool {pool!r}; this backend has {', '.join(self.pools)}")
        return self.root / pool / f"volume-{volume_id}"

    def create(self, pool: str, volume_id: str, size_gb: int) -> pathlib.Path:
        """Idempotent: a retry after a crash finds the file and fixes its size."""
        path = self.path(pool, volume_id)
        with open(path, "ab") as f:
            f.truncate(size_gb * GIB)
            os.fsync(f.fileno())
        return path

    def delete(self, pool: str, volume_id: str) -> None:
        self.path(pool, volume_id).unlink(missing_ok=True)

    def report(self, pool: str) -> PoolReport:
        directory = self.root / pool
        provisioned = used = count = 0
        for entry in os.scandir(directory):
            if entry.name.startswith("volume-") and entry.is_file():
                st = entry.stat()
                provisioned += st.st_size
                used += st.st_blocks * 512
                count += 1
        fs = os.statvfs(directory)
        fs_free = fs.f_bavail * fs.f_frsize / GIB
        if self.capacity_gb:
            total = self.capacity_gb
            free = min(fs_free, total - used / GIB)
        else:
            total, free = fs.f_blocks * fs.f_frsize / GIB, fs_free
        return PoolReport(pool, round(total, 3), round(max(free, 0.0), 3), provisioned / GIB, count)
