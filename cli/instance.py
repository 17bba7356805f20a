"""`ember instance`: step 9 of the attach flow on this compute host. `run`
attaches a volume, boots a small QEMU guest with it as its virtio disk,
runs a command there, prints its output, stops the guest and detaches;
`image` builds the guest image (cached in the data directory)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import uuid

import grpc

from cli import attach
from cli.client import CliError, describe, gateway, new_request_id
from compute import guest_image, qemu
from ember import errors
from ember.v1 import attachment_pb2, volume_pb2, volume_pb2_grpc

DEFAULT_COMMAND = 'echo "$EMBER_DISK: $(( $(cat /sys/block/vda/size) * 512 )) bytes, read-only=$(cat /sys/block/vda/ro)"'
# What a shell reports for a command ended by SIGINT.
INTERRUPTED = 130


def _data_dir(args) -> pathlib.Path:
    return pathlib.Path(args.data_dir).expanduser()


def _image(args) -> guest_image.GuestImage:
    try:
        return guest_image.ensure(_data_dir(args), rebuild=getattr(args, "rebuild", False),
                                  log=lambda line: print(line, file=sys.stderr))
    except guest_image.ImageError as error:
        raise CliError(f"cannot build the guest image: {error}")


def image(args) -> None:
    built = _image(args)
    for key, value in built.manifest.items():
        print(f"{key:<15} {value}")
    print(f"{'kernel':<15} {built.kernel}\n{'initrd':<15} {built.initrd}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _uninterrupted():
    """Lets a detach finish: a second Ctrl-C must not leave the volume attached."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _detach(stub, metadata, attachment: attachment_pb2.Attachment) -> None:
    with _uninterrupted():
        try:
            stub.DeleteAttachment(attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id),
                                  metadata=metadata, timeout=60)
        except grpc.RpcError as error:
            raise CliError(f"detaching failed, run `ember detach {attachment.id}`: {describe(error)}")


# Answers to a repeated CreateAttachment that say its request holds nothing:
# the first call's recorded failure, or its attachment already gone.
NOTHING_HELD = {"EXPORT_FAILED", "ATTACHMENT_RELEASED", "ATTACHMENT_DELETED"}


def _attach(stub, metadata, volume: volume_pb2.Volume, instance: str, args) -> attachment_pb2.Attachment:
    """attach_volume, except that an interrupt midway gives back what this
    run reserved: the interrupted call's answer may never have arrived, so
    the attachment is asked for again by the call's request_id."""
    request_id = new_request_id()
    try:
        return attach.attach_volume(stub, metadata, volume.id, instance, attach.connector(args), args.read_only,
                                    request_id)
    except KeyboardInterrupt:
        with _uninterrupted():
            made = _made_by(stub, metadata, volume.id, instance, args.read_only, request_id)
            if made is not None:
                _detach(stub, metadata, made)
        raise


def _made_by(stub, metadata, volume_id: str, instance: str, read_only: bool,
             request_id: str) -> attachment_pb2.Attachment | None:
    """The attachment an interrupted CreateAttachment made, from a retry
    under its request_id (which reserves the volume if the first call never
    arrived, to be given back the same way); None if it holds nothing."""
    try:
        return stub.CreateAttachment(attachment_pb2.CreateAttachmentRequest(
            volume_id=volume_id, instance_id=instance, mode=attach.mode(read_only), request_id=request_id,
        ), metadata=metadata, timeout=60)
    except grpc.RpcError as error:
        reason = errors.reason_of(error)
        if reason in NOTHING_HELD or (reason and error.code() in (grpc.StatusCode.FAILED_PRECONDITION,
                                                                  grpc.StatusCode.NOT_FOUND)):
            return None
        raise CliError(f"interrupted while attaching, and could not ask for the attachment it may have made; see "
                       f"`ember attachment list --volume {volume_id}` (a storage host releases an attachment never "
                       f"completed after attachment_reserve_timeout): {describe(error)}")


def run(args) -> None:
    # The image first: a host that cannot build it must not hold an attachment.
    built = _image(args)
    instance = args.instance or f"instance-{uuid.uuid4().hex[:8]}"
    with gateway() as (channel, metadata):
        stub = volume_pb2_grpc.VolumeServiceStub(channel)
        # SIGTERM ends the guest the way Ctrl-C does: stopped, then detached.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            volume = stub.GetVolume(volume_pb2.GetVolumeRequest(id=args.volume), metadata=metadata, timeout=30)
            attachment = _attach(stub, metadata, volume, instance, args)
        except KeyboardInterrupt:
            print(f"instance {instance}: interrupted while attaching; nothing left attached", file=sys.stderr)
            raise SystemExit(INTERRUPTED)
        _boot(args, built, stub, metadata, volume, attachment, instance)


def _boot(args, built: guest_image.GuestImage, stub, metadata, volume: volume_pb2.Volume,
          attachment: attachment_pb2.Attachment, instance: str) -> None:
    """Runs the guest on the attached volume, then detaches; exits with the command's status."""
    machine = qemu.Machine(memory_mib=args.memory, accel=args.accel, timeout=args.timeout)
    info = attachment.connection_info
    disk = qemu.Disk(info.driver_volume_type, dict(info.data), read_only=info.access_mode == "ro",
                     shared=volume.multiattach, serial=volume.id)
    print(f"instance {instance}: attachment {attachment.id}, {info.access_mode} over {info.driver_volume_type} "
          f"({attach.target(info)}); booting", file=sys.stderr, flush=True)
    run_dir, failure = _data_dir(args) / "instances" / instance, None
    try:
        status = qemu.run(built, disk, args.command, run_dir, sys.stdout.buffer, machine,
                          env={"EMBER_VOLUME": volume.id, "EMBER_INSTANCE": instance})
        outcome = f"command exited with {status}"
    except KeyboardInterrupt:
        status, outcome = INTERRUPTED, "interrupted"
    except (qemu.GuestError, guest_image.ImageError) as error:
        failure = f"{error} (console log: {run_dir / 'console.log'})"
    finally:
        _detach(stub, metadata, attachment)
    if failure is not None:
        raise CliError(f"instance {instance}: {failure}; volume detached")
    print(f"instance {instance}: {outcome}; guest stopped, volume detached", file=sys.stderr)
    raise SystemExit(status)


def add_parser(commands) -> None:
    parser = commands.add_parser("instance", help="boot a guest on this host with a volume as its disk")
    sub = parser.add_subparsers(dest="instance_command", required=True)
    data_dir = os.environ.get("EMBER_DATA_DIR", "~/.ember")
    r = sub.add_parser("run", help="attach a volume, run a command in a guest on it, detach",
                       description="The guest sees the volume as $EMBER_DISK (/dev/vda); the command runs in "
                                   "busybox's sh. Exits with the command's exit status.")
    r.add_argument("--volume", required=True, help="the volume's id")
    r.add_argument("--instance", help="the instance's id (default: a new one)")
    r.add_argument("--command", default=DEFAULT_COMMAND, help="shell command to run in the guest "
                   "(default: print the disk's size)")
    attach.add_connector_arguments(r)
    r.add_argument("--memory", type=int, default=256, help="guest memory in MiB (default %(default)s)")
    r.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="tcg (software, works everywhere; default) or kvm")
    r.add_argument("--timeout", type=float, default=600.0,
                   help="seconds the guest may run before it is stopped (default %(default)g)")
    r.add_argument("--data-dir", default=data_dir, help="where the guest image and console logs live "
                   "(default %(default)s; EMBER_DATA_DIR)")
    r.set_defaults(run=run)
    i = sub.add_parser("image", help="build the guest image from Debian packages (cached)")
    i.add_argument("--rebuild", action="store_true", help="build again, e.g. to take a newer kernel")
    i.add_argument("--data-dir", default=data_dir, help="where the image is kept (default %(default)s)")
    i.set_defaults(run=image)
