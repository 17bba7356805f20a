"""`ember attach` and `ember detach`: the compute host's side of Cinder's
attach flow. Attach reserves the volume for an instance, sends this host's
connector, checks that the export answers (with the export's TLS-PSK when it
requires one), completes the attachment and prints what a hypervisor would
open (the NBD URI or the file's path)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

from cli.client import CliError, as_dict, gateway, new_request_id, status_name
from compute import qemu
from ember import config, nbd_psk
from ember.v1 import attachment_pb2, volume_pb2_grpc

PROBE_TIMEOUT = 30


def connector(args) -> attachment_pb2.Connector:
    return attachment_pb2.Connector(
        host=args.host, ip=args.ip, initiator=f"ember:{args.host}", transports=args.transport or ["local", "nbd"]
    )


def target(info: attachment_pb2.ConnectionInfo) -> str:
    """What a hypervisor opens: the NBD URI or the local path."""
    return info.data["uri"] if info.driver_volume_type == "nbd" else info.data["device_path"]


def probe(info: attachment_pb2.ConnectionInfo) -> None:
    """Connects to the export once, as a hypervisor would; raises CliError if it does not answer."""
    where = target(info)
    if info.driver_volume_type == "local":
        mode = os.R_OK | (os.W_OK if info.access_mode == "rw" else 0)
        if not os.access(where, mode):
            raise CliError(f"{where} is not accessible from this host")
        return
    tool = shutil.which("nbdinfo") or shutil.which("qemu-img")
    if tool is None:
        raise CliError("checking the NBD export needs nbdinfo (libnbd-bin) or qemu-img (qemu-utils) on this host")
    disk = qemu.Disk("nbd", dict(info.data), read_only=True)
    with qemu.credentials(disk) as key_dir:
        if tool.endswith("nbdinfo"):
            uri = nbd_psk.libnbd_uri(disk.data, key_dir / nbd_psk.FILE_NAME) if key_dir else where
            command = [tool, "--size", uri]
        else:
            command = [tool, "info", *qemu.tls_object(disk, key_dir, "--object"), f"json:{json.dumps(disk.blockdev())}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    if done.returncode != 0:
        raise CliError(f"the export {where} does not answer: {done.stderr.strip()}")


def mode(read_only: bool) -> int:
    return attachment_pb2.ATTACH_MODE_RO if read_only else attachment_pb2.ATTACH_MODE_RW


def attach_volume(stub, metadata, volume_id: str, instance_id: str, host: attachment_pb2.Connector,
                  read_only: bool, request_id: str) -> attachment_pb2.Attachment:
    """Cinder's attach from the compute side: reserve with this host's
    connector, check that the export answers, complete. An export that does
    not answer is given back before the error is raised. A retry under the
    same `request_id` finds the attachment again if the answer was lost."""
    attachment = stub.CreateAttachment(
        attachment_pb2.CreateAttachmentRequest(
            volume_id=volume_id, instance_id=instance_id, connector=host, mode=mode(read_only), request_id=request_id,
        ),
        metadata=metadata, timeout=60,
    )
    try:
        probe(attachment.connection_info)
    except CliError:
        stub.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id),
                              metadata=metadata, timeout=60)
        raise
    return stub.CompleteAttachment(
        attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id), metadata=metadata, timeout=60
    )


def attach(args) -> None:
    with gateway() as (channel, metadata):
        attachment = attach_volume(volume_pb2_grpc.VolumeServiceStub(channel), metadata, args.volume, args.instance,
                                   connector(args), args.read_only, new_request_id())
    if args.json:
        print(json.dumps(as_dict(attachment), indent=2))
        return
    print(f"attachment {attachment.id}", file=sys.stderr)
    info = attachment.connection_info
    psk = nbd_psk.of(info.data) if info.driver_volume_type == "nbd" else None
    if psk is None:
        print(target(info))
    elif args.psk_file:
        nbd_psk.write(pathlib.Path(args.psk_file), psk)
        print(nbd_psk.libnbd_uri(info.data, pathlib.Path(args.psk_file).resolve()))
    else:
        print(f"the export requires TLS-PSK (identity {psk.identity}): --psk-file FILE writes its key for NBD "
              "clients, --json shows it", file=sys.stderr)
        print(target(info))


def attachments_of(stub, metadata, volume_id: str) -> list[attachment_pb2.Attachment]:
    """Every page of the project's attachments (of one volume, if given)."""
    found, token = [], ""
    while True:
        page = stub.ListAttachments(
            attachment_pb2.ListAttachmentsRequest(volume_id=volume_id, page_size=1000, page_token=token),
            metadata=metadata, timeout=30,
        )
        found.extend(page.attachments)
        token = page.next_page_token
        if not token:
            return found


def list_attachments(args) -> None:
    with gateway() as (channel, metadata):
        found = attachments_of(volume_pb2_grpc.VolumeServiceStub(channel), metadata, args.volume or "")
    if args.json:
        print(json.dumps([as_dict(a) for a in found], indent=2))
        return
    print(f"{'ID':<36}  {'VOLUME':<36}  {'INSTANCE':<12}  {'STATUS':<10}  TARGET")
    for a in found:
        status = status_name(attachment_pb2.AttachmentStatus, a.status)
        where = target(a.connection_info) if a.HasField("connection_info") else ""
        if a.HasField("export_failed_at"):
            where += f" (EXPORT FAILING: {a.status_detail})"
        print(f"{a.id:<36}  {a.volume_id:<36}  {a.instance_id:<12}  {status:<10}  {where}")


def detach(args) -> None:
    with gateway() as (channel, metadata):
        volume_pb2_grpc.VolumeServiceStub(channel).DeleteAttachment(
            attachment_pb2.DeleteAttachmentRequest(attachment_id=args.attachment), metadata=metadata, timeout=60)
    print(f"{args.attachment} detached")


def add_connector_arguments(parser) -> None:
    """How this compute host connects: its name, address and transports."""
    parser.add_argument("--read-only", action="store_true", help="attach read-only")
    parser.add_argument("--host", default=config.default_host(), help="this compute host's name (default %(default)s)")
    parser.add_argument("--ip", default="127.0.0.1", help="this compute host's address")
    parser.add_argument("--transport", action="append", choices=["local", "nbd"],
                        help="a transport this host can use, in order of preference (default: local, then nbd)")


def add_parser(commands) -> None:
    a = commands.add_parser("attach", help="attach a volume to an instance on this host")
    a.add_argument("volume", help="the volume's id")
    a.add_argument("--instance", required=True, help="the instance's id")
    add_connector_arguments(a)
    a.add_argument("--json", action="store_true", help="print the whole attachment as JSON")
    a.add_argument("--psk-file", metavar="FILE",
                   help="for an export that requires TLS-PSK: write its key to FILE (identity:hexkey, mode 0600) "
                   "and print the URI with it, as nbdcopy and nbdinfo take it")
    a.set_defaults(run=attach)
    d = commands.add_parser("detach", help="detach: delete an attachment")
    d.add_argument("attachment", help="the attachment's id")
    d.set_defaults(run=detach)
    listing = commands.add_parser("attachment", help="list attachments")
    sub = listing.add_subparsers(dest="attachment_command", required=True)
    ls = sub.add_parser("list", help="this project's attachments")
    ls.add_argument("--volume", help="only this volume's")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=list_attachments)
