"""Durable file writes: a file appears under its name complete or not at
all (temporary name, fsync, rename, fsync of the directory)."""

from __future__ import annotations

import os
import pathlib
import uuid


def sync_directory(directory: pathlib.Path) -> None:
    """A rename or a new file is durable only once its directory is."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def partial_name(path: pathlib.Path) -> pathlib.Path:
    """Where a file is written before it is renamed to `path`; unique, so
    writers never share one."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")


def publish(partial: pathlib.Path, path: pathlib.Path) -> None:
    """Renames a fully written (and fsynced) file into place, durably."""
    os.rename(partial, path)
    sync_directory(path.parent)


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    partial = partial_name(path)
    with open(partial, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    publish(partial, path)


def write_private(path: pathlib.Path, data: bytes | str) -> None:
    """Writes a file of secrets whole and never readable by others, not even
    for a moment (made 0600 from the start, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(path)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)

