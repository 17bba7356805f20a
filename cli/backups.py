"""`ember backup create|list|show|delete|restore|verify|export|import`:
BackupService calls with output for people or scripts (--json); --wait
follows the operation with a progress bar."""

from __future__ import annotations

import json

from cli.client import as_dict, every_page, finish, gateway, listing, new_request_id, show, status_name
from ember.v1 import backup_pb2, backup_pb2_grpc, volume_pb2

COLUMNS = ("id", "volume_id", "name", "size_gb", "incremental", "status")
MIB = 1024 * 1024


def _row(backup) -> dict:
    return {"id": backup.id, "volume_id": backup.volume_id, "name": backup.name, "size_gb": backup.size_gb,
            "incremental": "yes" if backup.incremental else "no",
            "status": status_name(backup_pb2.BackupStatus, backup.status)}


def _show(backup, as_json: bool) -> None:
    show(backup, as_json, dict(
        _row(backup), parent_id=backup.parent_id, status_detail=backup.status_detail,
        data=f"{backup.data_bytes / MIB:.1f} MiB in {backup.chunk_count} chunks",
        stored=f"{backup.stored_bytes / MIB:.1f} MiB new in the repository",
        created_at=backup.created_at.ToJsonString(), metadata=dict(backup.metadata)))


def create(args, stub, channel, metadata) -> None:
    request = backup_pb2.CreateBackupRequest(
        volume_id=args.volume, name=args.name or "", description=args.description or "",
        incremental=args.incremental, force=args.force,
        metadata=dict(kv.split("=", 1) for kv in args.metadata or ()), request_id=new_request_id(),
    )
    op = stub.CreateBackup(request, metadata=metadata, timeout=30)
    finish(args, channel, metadata, op, backup_pb2.Backup(), lambda b: _show(b, args.json))


def list_(args, stub, channel, metadata) -> None:
    found = every_page(lambda r: stub.ListBackups(r, metadata=metadata, timeout=30),
                       backup_pb2.ListBackupsRequest(volume_id=args.volume or "", page_size=1000), "backups")
    listing(found, args.json, _row, COLUMNS)


def show_(args, stub, channel, metadata) -> None:
    _show(stub.GetBackup(backup_pb2.GetBackupRequest(id=args.id), metadata=metadata, timeout=30), args.json)


def delete(args, stub, channel, metadata) -> None:
    request = backup_pb2.DeleteBackupRequest(id=args.id, request_id=new_request_id())
    op = stub.DeleteBackup(request, metadata=metadata, timeout=30)
    finish(args, channel, metadata, op, backup_pb2.Backup(),
            lambda b: print(json.dumps(as_dict(b), indent=2) if args.json else f"{args.id} deleted"))


def restore(args, stub, channel, metadata) -> None:
    request = backup_pb2.RestoreBackupRequest(backup_id=args.id, volume_id=args.volume or "", name=args.name or "",
                                              volume_type=args.type or "", availability_zone=args.zone or "",
                                              request_id=new_request_id())
    op = stub.RestoreBackup(request, metadata=metadata, timeout=30)

    def restored(volume) -> None:
        print(json.dumps(as_dict(volume), indent=2) if args.json else f"restored onto volume {volume.id}")

    finish(args, channel, metadata, op, volume_pb2.Volume(), restored)


def verify(args, stub, channel, metadata) -> None:
    op = stub.VerifyBackup(backup_pb2.VerifyBackupRequest(id=args.id), metadata=metadata, timeout=30)

    def verified(result) -> None:
        if args.json:
            print(json.dumps(as_dict(result), indent=2))
        else:
            print(f"backup {result.backup_id} is intact: {result.chunks_checked} chunks, "
                  f"{result.bytes_checked / MIB:.1f} MiB checked")

    finish(args, channel, metadata, op, backup_pb2.BackupVerification(), verified)


def export(args, stub, channel, metadata) -> None:
    record = stub.ExportBackupRecord(backup_pb2.ExportBackupRecordRequest(id=args.id), metadata=metadata, timeout=30)
    print(json.dumps(as_dict(record), indent=2) if args.json else f"{record.backup_service} {record.backup_url}")


def import_(args, stub, channel, metadata) -> None:
    request = backup_pb2.ImportBackupRecordRequest(backup_service=args.service, backup_url=args.url)
    _show(stub.ImportBackupRecord(request, metadata=metadata, timeout=30), args.json)


COMMANDS = {"create": create, "list": list_, "show": show_, "delete": delete, "restore": restore, "verify": verify,
            "export": export, "import": import_}


def run(args) -> None:
    with gateway() as (channel, metadata):
        COMMANDS[args.backup_command](args, backup_pb2_grpc.BackupServiceStub(channel), channel, metadata)


def add_parser(commands) -> None:
    backup = commands.add_parser("backup", help="back volumes up, restore, verify, move backup records")
    sub = backup.add_subparsers(dest="backup_command", required=True)
    waiting = {"action": "store_true", "help": "wait until it is done (with a progress bar)"}
    c = sub.add_parser("create", help="back a volume up")
    c.add_argument("--volume", required=True)
    c.add_argument("--name")
    c.add_argument("--description")
    c.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    c.add_argument("--incremental", action="store_true", help="store only what changed since the newest backup")
    c.add_argument("--force", action="store_true", help="back up an in-use volume (from a temporary snapshot)")
    c.add_argument("--wait", **waiting)
    ls = sub.add_parser("list", help="this project's backups")
    ls.add_argument("--volume", help="only this volume's")
    s = sub.add_parser("show", help="show one backup")
    s.add_argument("id")
    d = sub.add_parser("delete", help="delete a backup (others, incremental or not, stay restorable)")
    d.add_argument("id")
    d.add_argument("--wait", **waiting)
    r = sub.add_parser("restore", help="restore a backup onto a new volume, or onto --volume")
    r.add_argument("id")
    r.add_argument("--volume", help="an available volume at least as large as the backup (its data is replaced)")
    r.add_argument("--name", help="the new volume's name")
    r.add_argument("--type", help="the new volume's type")
    r.add_argument("--zone", help="the new volume's availability zone")
    r.add_argument("--wait", **waiting)
    v = sub.add_parser("verify", help="check every chunk of a backup without restoring it")
    v.add_argument("id")
    v.add_argument("--wait", **waiting)
    e = sub.add_parser("export", help="print a backup's record, for `ember backup import` elsewhere (admin)")
    e.add_argument("id")
    i = sub.add_parser("import", help="import a record into this Ember (same repository; admin)")
    i.add_argument("service", help="the backup_service of the record")
    i.add_argument("url", help="the backup_url of the record")
    for p in (c, ls, s, d, r, v, e, i):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    backup.set_defaults(run=run)
