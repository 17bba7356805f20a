"""`ember volume create|list|show|delete|extend`: VolumeService calls with
output for people (tables) or scripts (--json)."""

from __future__ import annotations

import json

from cli.client import (
    CliError, as_dict, every_page, finish, gateway, listing, new_request_id, show, status_name, wait,
)
from ember.v1 import volume_pb2, volume_pb2_grpc

COLUMNS = ("id", "name", "size_gb", "status", "host")


def _row(volume) -> dict:
    return {"id": volume.id, "name": volume.name, "size_gb": volume.size_gb,
            "status": status_name(volume_pb2.VolumeStatus, volume.status), "host": volume.host}


def _print_volume(volume, as_json: bool) -> None:
    show(volume, as_json, dict(_row(volume), status_detail=volume.status_detail, project_id=volume.project_id,
                               created_at=volume.created_at.ToJsonString(), metadata=dict(volume.metadata)))


def run(args) -> None:
    with gateway() as (channel, metadata):
        COMMANDS[args.volume_command](args, volume_pb2_grpc.VolumeServiceStub(channel), channel, metadata)


def create(args, stub, channel, metadata) -> None:
    if args.size is None and not (args.snapshot or args.source_volume):
        raise CliError("give --size, or --snapshot or --source-volume to copy")
    request = volume_pb2.CreateVolumeRequest(
        size_gb=args.size or 0, name=args.name or "", description=args.description or "",
        metadata=dict(kv.split("=", 1) for kv in args.metadata or ()), volume_type=args.type or "",
        availability_zone=args.zone or "", request_id=new_request_id(),
    )
    if args.snapshot:
        request.source_snapshot_id = args.snapshot
    elif args.source_volume:
        request.source_volume_id = args.source_volume
    op = stub.CreateVolume(request, metadata=metadata, timeout=30)
    finish(args, channel, metadata, op, volume_pb2.Volume(), lambda volume: _print_volume(volume, args.json))


def list_(args, stub, channel, metadata) -> None:
    volumes = every_page(lambda r: stub.ListVolumes(r, metadata=metadata, timeout=30),
                         volume_pb2.ListVolumesRequest(page_size=1000), "volumes")
    listing(volumes, args.json, _row, COLUMNS)


def show_(args, stub, channel, metadata) -> None:
    _print_volume(stub.GetVolume(volume_pb2.GetVolumeRequest(id=args.id), metadata=metadata, timeout=30), args.json)


def extend(args, stub, channel, metadata) -> None:
    request = volume_pb2.ExtendVolumeRequest(id=args.id, new_size_gb=args.size, request_id=new_request_id())
    op = stub.ExtendVolume(request, metadata=metadata, timeout=30)
    finish(args, channel, metadata, op, volume_pb2.Volume(), lambda volume: _print_volume(volume, args.json))


def delete(args, stub, channel, metadata) -> None:
    request = volume_pb2.DeleteVolumeRequest(id=args.id, cascade=args.cascade, request_id=new_request_id())
    op = stub.DeleteVolume(request, metadata=metadata, timeout=30)
    if args.wait:
        op = wait(channel, metadata, op)
    if args.json:
        print(json.dumps(as_dict(op), indent=2))
    else:
        print(f"{args.id} deleted" if op.done else op.name)


COMMANDS = {"create": create, "list": list_, "show": show_, "delete": delete, "extend": extend}


def add_parser(commands) -> None:
    volume = commands.add_parser("volume", help="create, list, show and delete volumes")
    sub = volume.add_subparsers(dest="volume_command", required=True)
    c = sub.add_parser("create", help="create a volume")
    c.add_argument("--size", type=int, help="size in GiB (with a source: default its size)")
    c.add_argument("--type", help="volume type (default: the default type)")
    c.add_argument("--zone", help="availability zone")
    source = c.add_mutually_exclusive_group()
    source.add_argument("--snapshot", help="start from this snapshot's data")
    source.add_argument("--source-volume", help="start from this volume's data (a clone)")
    c.add_argument("--name")
    c.add_argument("--description")
    c.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    c.add_argument("--wait", action="store_true", help="wait until the volume is available")
    sub.add_parser("list", help="list this project's volumes")
    s = sub.add_parser("show", help="show one volume")
    s.add_argument("id")
    d = sub.add_parser("delete", help="delete a volume")
    d.add_argument("id")
    d.add_argument("--cascade", action="store_true", help="also delete its snapshots")
    e = sub.add_parser("extend", help="grow an available volume")
    e.add_argument("id")
    e.add_argument("--size", type=int, required=True, help="the new size in GiB")
    e.add_argument("--wait", action="store_true", help="wait until it is extended")
    d.add_argument("--wait", action="store_true", help="wait until it is gone")
    for p in (c, sub.choices["list"], s, d, e):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    volume.set_defaults(run=run)
