"""`ember volume create|list|show|delete`: VolumeService calls with output for
people (tables) or scripts (--json)."""

from __future__ import annotations

import json
import sys

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2, json_format

from ember.cli.client import CliError, connect, describe
from ember.v1 import common_pb2, volume_pb2, volume_pb2_grpc

STATUS_PREFIX = "VOLUME_STATUS_"
COLUMNS = ("id", "name", "size_gb", "status", "host")


def _status(volume) -> str:
    return volume_pb2.VolumeStatus.Name(volume.status).removeprefix(STATUS_PREFIX).lower()


def _as_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _row(volume) -> dict:
    return {"id": volume.id, "name": volume.name, "size_gb": volume.size_gb, "status": _status(volume), "host": volume.host}


def _print_volume(volume, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_as_dict(volume), indent=2))
        return
    fields = dict(_row(volume), status_detail=volume.status_detail, project_id=volume.project_id,
                  created_at=volume.created_at.ToJsonString(), metadata=dict(volume.metadata))
    width = max(map(len, fields))
    for key, value in fields.items():
        if value not in ("", {}):
            print(f"{key:<{width}}  {value}")


def _table(rows: list[dict]) -> None:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in COLUMNS}
    print("  ".join(c.upper().ljust(widths[c]) for c in COLUMNS))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS))


def _progress(op: operations_pb2.Operation) -> None:
    if not sys.stderr.isatty():
        return
    meta = common_pb2.OperationMetadata()
    op.metadata.Unpack(meta)
    filled = meta.progress_percent // 5
    print(f"\r{meta.verb} [{'#' * filled}{'.' * (20 - filled)}] {meta.progress_percent:3d}%", end="", file=sys.stderr)
    if op.done:
        print(file=sys.stderr)


def wait(channel, metadata, op: operations_pb2.Operation) -> operations_pb2.Operation:
    stub = operations_pb2_grpc.OperationsStub(channel)
    _progress(op)
    while not op.done:
        op = stub.WaitOperation(
            operations_pb2.WaitOperationRequest(name=op.name, timeout=duration_pb2.Duration(seconds=30)),
            metadata=metadata, timeout=40,
        )
        _progress(op)
    if op.HasField("error"):
        raise CliError(f"{op.name} failed: {op.error.message}")
    return op


def run(args) -> None:
    channel, metadata = connect()
    stub = volume_pb2_grpc.VolumeServiceStub(channel)
    try:
        COMMANDS[args.volume_command](args, stub, channel, metadata)
    except grpc.RpcError as error:
        raise CliError(describe(error))


def create(args, stub, channel, metadata) -> None:
    request = volume_pb2.CreateVolumeRequest(
        size_gb=args.size, name=args.name or "", description=args.description or "",
        metadata=dict(kv.split("=", 1) for kv in args.metadata or ()),
    )
    op = stub.CreateVolume(request, metadata=metadata, timeout=30)
    if not args.wait:
        print(json.dumps(_as_dict(op), indent=2) if args.json else op.name)
        return
    op = wait(channel, metadata, op)
    volume = volume_pb2.Volume()
    op.response.Unpack(volume)
    _print_volume(volume, args.json)


def list_(args, stub, channel, metadata) -> None:
    volumes, token = [], ""
    while True:
        page = stub.ListVolumes(volume_pb2.ListVolumesRequest(page_token=token, page_size=1000), metadata=metadata, timeout=30)
        volumes.extend(page.volumes)
        token = page.next_page_token
        if not token:
            break
    if args.json:
        print(json.dumps([_as_dict(v) for v in volumes], indent=2))
    else:
        _table([_row(v) for v in volumes])


def show(args, stub, channel, metadata) -> None:
    _print_volume(stub.GetVolume(volume_pb2.GetVolumeRequest(id=args.id), metadata=metadata, timeout=30), args.json)


def delete(args, stub, channel, metadata) -> None:
    op = stub.DeleteVolume(volume_pb2.DeleteVolumeRequest(id=args.id), metadata=metadata, timeout=30)
    if args.wait:
        op = wait(channel, metadata, op)
    if args.json:
        print(json.dumps(_as_dict(op), indent=2))
    else:
        print(f"{args.id} deleted" if op.done else op.name)


COMMANDS = {"create": create, "list": list_, "show": show, "delete": delete}


def add_parser(commands) -> None:
    volume = commands.add_parser("volume", help="create, list, show and delete volumes")
    sub = volume.add_subparsers(dest="volume_command", required=True)
    c = sub.add_parser("create", help="create a volume")
    c.add_argument("--size", type=int, required=True, help="size in GiB")
    c.add_argument("--name")
    c.add_argument("--description")
    c.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    c.add_argument("--wait", action="store_true", help="wait until the volume is available")
    sub.add_parser("list", help="list this project's volumes")
    s = sub.add_parser("show", help="show one volume")
    s.add_argument("id")
    d = sub.add_parser("delete", help="delete a volume")
    d.add_argument("id")
    d.add_argument("--wait", action="store_true", help="wait until it is gone")
    for p in (c, sub.choices["list"], s, d):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    volume.set_defaults(run=run)
