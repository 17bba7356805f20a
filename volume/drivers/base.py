"""What a backend driver is: `Driver`, the operations and declared
capabilities every driver has, with the config and reports it speaks in."""

from __future__ import annotations

import abc
import dataclasses
import pathlib
from typing import ClassVar

from volume.drivers.copy import Progress


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """One backend of --backends: its pools, capacity rules and extra capabilities."""

    name: str
    pools: tuple[str, ...]
    driver: str = "file"
    capacity_gb: float = 0.0
    reserved_percentage: int = 0
    max_over_subscription_ratio: float = 20.0
    thin: bool = True
    capabilities: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class PoolReport:
    pool: str
    total_capacity_gb: float
    free_capacity_gb: float
    provisioned_capacity_gb: float
    volume_count: int


class Driver(abc.ABC):
    """A backend's pools and the volumes and snapshots in them. Every
    operation is idempotent (a redelivered task repeats it) and blocking
    (callers run it in a thread). A volume or snapshot is served by the
    exports from the local path `path` or `snapshot_path` gives."""

    # Declared by each driver: its name in --backends, how its volumes are
    # reached, and whether several attachments may share one.
    name: ClassVar[str]
    storage_protocol: ClassVar[str]
    multiattach: ClassVar[bool]

    def __init__(self, root: pathlib.Path, config: BackendConfig):
        self.root, self.config = root, config
        self.backend = config.name
        self.pools = list(config.pools)
        # What the scheduler matches volume types' extra specs against.
        self.capabilities = {
            "driver": self.name,
            "storage_protocol": self.storage_protocol,
            "volume_backend_name": config.name,
            "thin_provisioning_support": str(config.thin),
            "thick_provisioning_support": str(not config.thin),
            "multiattach": str(self.multiattach),
            **config.capabilities,
        }

    @abc.abstractmethod
    def path(self, pool: str, volume_id: str) -> pathlib.Path: ...

    @abc.abstractmethod
    def snapshot_path(self, pool: str, snapshot_id: str) -> pathlib.Path: ...

    @abc.abstractmethod
    def create(self, pool: str, volume_id: str, size_gb: int) -> pathlib.Path: ...

    @abc.abstractmethod
    def create_from(self, pool: str, volume_id: str, size_gb: int, source: pathlib.Path,
                    progress: Progress | None = None) -> str:
        """A new volume holding the data of `source` (a snapshot or volume of
        this backend), extended to size_gb; returns how it was copied."""

    @abc.abstractmethod
    def delete(self, pool: str, volume_id: str) -> None: ...

    @abc.abstractmethod
    def extend(self, pool: str, volume_id: str, size_gb: int) -> None: ...

    @abc.abstractmethod
    def create_snapshot(self, pool: str, volume_id: str, snapshot_id: str, progress: Progress | None = None) -> str:
        """The volume's data as it is now; returns how it was copied."""

    @abc.abstractmethod
    def delete_snapshot(self, pool: str, snapshot_id: str) -> None: ...

    @abc.abstractmethod
    def report(self, pool: str) -> PoolReport: ...
