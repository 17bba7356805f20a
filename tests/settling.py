"""Waiting for an Ember to settle after a fault: the statuses that end a
workflow, every resource of a project listed, and polling until a condition holds."""

from __future__ import annotations

import time

import grpc

from ember.v1 import backup_pb2, snapshot_pb2, volume_pb2

SETTLE = 60.0
STABLE = {
    "volume": {volume_pb2.VOLUME_STATUS_AVAILABLE, volume_pb2.VOLUME_STATUS_IN_USE, volume_pb2.VOLUME_STATUS_ERROR,
               volume_pb2.VOLUME_STATUS_ERROR_DELETING, volume_pb2.VOLUME_STATUS_ERROR_EXTENDING,
               volume_pb2.VOLUME_STATUS_ERROR_RESTORING},
    "snapshot": {snapshot_pb2.SNAPSHOT_STATUS_AVAILABLE, snapshot_pb2.SNAPSHOT_STATUS_ERROR,
                 snapshot_pb2.SNAPSHOT_STATUS_ERROR_DELETING},
    "backup": {backup_pb2.BACKUP_STATUS_AVAILABLE, backup_pb2.BACKUP_STATUS_ERROR,
               backup_pb2.BACKUP_STATUS_ERROR_DELETING},
}


def list_all(client) -> dict[str, list]:
    return {
        "volume": list(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes),
        "snapshot": list(client.call(client.snapshots.ListSnapshots,
                                     snapshot_pb2.ListSnapshotsRequest(page_size=1000)).snapshots),
        "backup": list(client.call(client.backups.ListBackups, backup_pb2.ListBackupsRequest(page_size=1000)).backups),
    }


def wait_for(read, done, timeout: float = SETTLE, what: str = "not settled"):
    """read() until done(value); UNAVAILABLE or a deadline in between (a
    restarting or unreachable service) counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = read()
            if done(value):
                return value
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            value = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s: {value}")
        time.sleep(0.2)


def settled(client, timeout: float = SETTLE) -> dict[str, list]:
    """Every resource of the client's project in a stable status."""
    return wait_for(lambda: list_all(client), lambda found: all(
        r.status in STABLE[kind] for kind, rows in found.items() for r in rows), timeout)
