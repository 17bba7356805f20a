"""Pool names as Cinder spells them, host@backend#pool: the one place that
writes them and takes them apart."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PoolName:
    host: str
    backend: str
    pool: str

    def __str__(self) -> str:
        return f"{self.host}@{self.backend}#{self.pool}"

    @property
    def qualified_backend(self) -> str:
        """host@backend: one backend among every host's, what copies stay on
        and what a failed create rules out."""
        return f"{self.host}@{self.backend}"


def parse(name: str) -> PoolName:
    host, _, rest = name.partition("@")
    backend, _, pool = rest.partition("#")
    return PoolName(host, backend, pool)


def host_prefix(host: str) -> str:
    """What every pool name of `host` starts with (to select its volumes)."""
    return f"{host}@"


def host_of(name: str) -> str:
    """The storage host of a pool (a volume's `host` is its pool's name)."""
    return parse(name).host


def backend_of(name: str) -> str:
    return parse(name).backend


def qualified_backend(name: str) -> str:
    return parse(name).qualified_backend
