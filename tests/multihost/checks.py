"""What every multi-host fault test asserts at its end, as the fault matrix
does: everything stable within a bound, nothing done twice (one file per
volume row on the storage hosts, quota usage equal to what exists), and data
written before the fault intact; plus writing that data from compute-1."""

from __future__ import annotations

import contextlib
import os
import pathlib
from typing import Iterator

from backup.repository import manifests
from ember.v1 import attachment_pb2, quota_pb2, volume_pb2
from tests import nbd, settling
from tests.multihost.topology import ZONES, Topology
from tests.settling import list_all, wait_for

__all__ = ["list_all", "wait_for"]

MIB = 1024 * 1024
# Hosts come back from a cut slower than processes from a restart.
SETTLE = 90.0


def settled(client, timeout: float = SETTLE) -> dict[str, list]:
    return settling.settled(client, timeout)


def pool_dir(topology: Topology, store: str) -> pathlib.Path:
    """Where the file backend of storage host `store` keeps its volumes."""
    return topology[store].data_dir / "volumes" / "file" / "default"


def volume_file(topology: Topology, volume: volume_pb2.Volume) -> pathlib.Path:
    return pool_dir(topology, volume.host.partition("@")[0]) / f"volume-{volume.id}"


def client(topology: Topology, agent, project: str, gateway: int = 0):
    """A client of `project` whose calls leave from `agent`'s host through
    gateway number `gateway`; assert_consistent looks at every such project."""
    topology.projects.add(project)
    return agent.client(topology.gateways[gateway], topology.token(project))


def assert_consistent(topology: Topology, agent) -> None:
    """No double effects: each project's quota usage is what it has, and
    every volume or snapshot file on a storage host and every manifest in
    the repository belongs to a row of some project."""
    every: dict[str, set] = {"volume": set(), "snapshot": set(), "backup": set()}
    hosts: dict[str, str] = {}
    for project in sorted(topology.projects):
        own = client(topology, agent, project)
        found = list_all(own)
        usage = own.call(own.quotas.GetQuota, quota_pb2.GetQuotaRequest()).usage
        assert usage["volumes"] == len(found["volume"]), (project, usage, found["volume"])
        assert usage["gigabytes"] == (sum(v.size_gb for v in found["volume"])
                                      + sum(s.size_gb for s in found["snapshot"])), (project, usage)
        assert usage["snapshots"] == len(found["snapshot"]), (project, usage)
        assert usage["backups"] == len(found["backup"]), (project, usage)
        for kind, rows in found.items():
            every[kind].update(r.id for r in rows)
        hosts.update({v.id: v.host.partition("@")[0] for v in found["volume"]})
    for store in ZONES:
        pool = pool_dir(topology, store)
        files = [p.name.partition("-") for p in pool.iterdir() if not p.name.startswith(".")] if pool.exists() else []
        assert {i for kind, _, i in files if kind == "volume"} == {i for i, h in hosts.items() if h == store}, (
            f"{store}: volume files and rows differ")
        assert {i for kind, _, i in files if kind == "snapshot"} <= every["snapshot"]
    assert set(manifests.backup_ids(topology.repository)) <= every["backup"]


@contextlib.contextmanager
def nbd_uri(attachment) -> Iterator[str]:
    """The URI nbdcopy opens on any host for the attachment's export, with
    its TLS-PSK in a private file (the hosts share a file system) meanwhile."""
    with nbd.uri_of(attachment.connection_info.data) as uri:
        yield uri


def write_from_compute(topology: Topology, client, volume_id: str, size: int = 2 * MIB) -> bytes:
    """Random data written over NBD from compute-1 (across the bridge to the
    volume's storage host), flushed, then detached."""
    data = os.urandom(size)
    source = topology["compute-1"].data_dir / f"data-{volume_id}"
    source.write_bytes(data)
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id="writer", connector=attachment_pb2.Connector(
            host="compute-1", transports=["nbd"])), timeout=60)
    try:
        with nbd_uri(attachment) as uri:
            copied = topology["compute-1"].run(["nbdcopy", "--flush", str(source), uri],
                                               capture_output=True, text=True, timeout=120)
        assert copied.returncode == 0, copied.stderr
    finally:
        client.call(client.volumes.DeleteAttachment,
                    attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id), timeout=60)
        source.unlink()
    return data


def starts_with(path: pathlib.Path, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(data)) == data
