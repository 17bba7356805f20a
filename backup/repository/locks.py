"""Repository locks, as files (they work on an NFS mount shared by many
backup hosts): any number of shared holders (backups, restores, verifies)
or one exclusive holder (garbage collection). A holder refreshes its file;
one not refreshed for FRESH seconds belongs to a crashed process and no
longer counts."""

from __future__ import annotations

import json
import os
import pathlib
import time

FRESH = 600.0
SHARED, EXCLUSIVE = "shared", "exclusive"


class Busy(RuntimeError):
    """The lock is held the other way; try again later."""


class Lock:
    def __init__(self, root: pathlib.Path, holder: str, kind: str):
        self.path = root / "locks" / f"{holder}.{kind}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"holder": holder, "kind": kind, "pid": os.getpid(), "at": time.time()}))

    def refresh(self) -> None:
        os.utime(self.path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _held(root: pathlib.Path, kind: str, besides: pathlib.Path) -> list[str]:
    now = time.time()
    found = []
    for path in (root / "locks").glob(f"*.{kind}"):
        try:
            if path != besides and now - path.stat().st_mtime < FRESH:
                found.append(path.stem)
        except FileNotFoundError:
            continue
    return found


def take(root: pathlib.Path, holder: str, kind: str) -> Lock:
    """Announce first, then look: two takers that race both see each other
    and back off, never both proceed."""
    lock = Lock(root, holder, kind)
    blocking = _held(root, EXCLUSIVE, lock.path)
    if kind == EXCLUSIVE:
        blocking += _held(root, SHARED, lock.path)
    if blocking:
        lock.release()
        raise Busy(f"the repository is locked by {', '.join(sorted(blocking))}")
    return lock
