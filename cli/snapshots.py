"""`ember snapshot create|list|show|delete`: SnapshotService calls with
output for people or scripts (--json)."""

from __future__ import annotations

from cli.client import every_page, finish, gateway, listing, new_request_id, show, status_name
from ember.v1 import snapshot_pb2, snapshot_pb2_grpc

COLUMNS = ("id", "volume_id", "name", "size_gb", "status")


def _row(snapshot) -> dict:
    return {"id": snapshot.id, "volume_id": snapshot.volume_id, "name": snapshot.name, "size_gb": snapshot.size_gb,
            "status": status_name(snapshot_pb2.SnapshotStatus, snapshot.status)}


def _show(snapshot, as_json: bool) -> None:
    show(snapshot, as_json, dict(_row(snapshot), status_detail=snapshot.status_detail,
                                 created_at=snapshot.created_at.ToJsonString()))


def _finish(args, channel, metadata, op) -> None:
    finish(args, channel, metadata, op, snapshot_pb2.Snapshot(), lambda snapshot: _show(snapshot, args.json))


def create(args, stub, channel, metadata) -> None:
    request = snapshot_pb2.CreateSnapshotRequest(
        volume_id=args.volume, name=args.name or "", description=args.description or "", force=args.force,
        request_id=new_request_id(),
    )
    _finish(args, channel, metadata, stub.CreateSnapshot(request, metadata=metadata, timeout=30))


def list_(args, stub, channel, metadata) -> None:
    found = every_page(lambda r: stub.ListSnapshots(r, metadata=metadata, timeout=30),
                       snapshot_pb2.ListSnapshotsRequest(volume_id=args.volume or "", page_size=1000), "snapshots")
    listing(found, args.json, _row, COLUMNS)


def show_(args, stub, channel, metadata) -> None:
    _show(stub.GetSnapshot(snapshot_pb2.GetSnapshotRequest(id=args.id), metadata=metadata, timeout=30), args.json)


def delete(args, stub, channel, metadata) -> None:
    _finish(args, channel, metadata, stub.DeleteSnapshot(
        snapshot_pb2.DeleteSnapshotRequest(id=args.id, request_id=new_request_id()), metadata=metadata, timeout=30))


COMMANDS = {"create": create, "list": list_, "show": show_, "delete": delete}


def run(args) -> None:
    with gateway() as (channel, metadata):
        COMMANDS[args.snapshot_command](args, snapshot_pb2_grpc.SnapshotServiceStub(channel), channel, metadata)


def add_parser(commands) -> None:
    snapshot = commands.add_parser("snapshot", help="create, list, show and delete snapshots")
    sub = snapshot.add_subparsers(dest="snapshot_command", required=True)
    c = sub.add_parser("create", help="snapshot a volume")
    c.add_argument("--volume", required=True)
    c.add_argument("--name")
    c.add_argument("--description")
    c.add_argument("--force", action="store_true", help="snapshot an in-use volume")
    c.add_argument("--wait", action="store_true", help="wait until it is available (with a progress bar)")
    ls = sub.add_parser("list", help="this project's snapshots")
    ls.add_argument("--volume", help="only this volume's")
    s = sub.add_parser("show", help="show one snapshot")
    s.add_argument("id")
    d = sub.add_parser("delete", help="delete a snapshot")
    d.add_argument("id")
    d.add_argument("--wait", action="store_true", help="wait until it is gone")
    for p in (c, ls, s, d):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    snapshot.set_defaults(run=run)
