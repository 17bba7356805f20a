"""QEMU booting Ember's guest with an attached volume as its virtio disk.

The disk comes from the attachment's connection info (an NBD export or the
volume file's path), read-only when the attachment is; an export's TLS-PSK
waits in a private directory of the run while the guest runs. The command travels
in a small archive appended to the image's initramfs, its output comes back
on the guest's second serial port, and its exit status on the console."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import select
import shlex
import shutil
import subprocess
import time
from typing import BinaryIO, Iterator

from compute import guest_image
from compute.guest_image import GuestImage
from ember import nbd_psk

QEMU = "qemu-system-x86_64"
GUEST_DISK = "/dev/vda"
# virtio-blk serial numbers are at most 20 bytes.
SERIAL_LENGTH = 20
STOP_TIMEOUT = 10.0
EXIT_LINE = re.compile(rb"^ember-exit (\d+)\s*$", re.MULTILINE)
TLS_CREDS = "volume-tls"


class GuestError(RuntimeError):
    """The guest could not run the command; str() says why, with the console's tail."""


@dataclasses.dataclass(frozen=True)
class Disk:
    """What the hypervisor opens, from an attachment's connection info."""

    transport: str
    data: dict[str, str]
    read_only: bool
    # A multi-attach volume: other guests may write it at the same time.
    shared: bool = False
    serial: str = ""

    @property
    def psk(self) -> nbd_psk.Psk | None:
        """The TLS-PSK the export requires, if it does."""
        return nbd_psk.of(self.data) if self.transport == "nbd" else None

    def blockdev(self) -> dict:
        if self.transport == "nbd":
            protocol = {
                "driver": "nbd",
                "server": {"type": "inet", "host": self.data["host"], "port": str(self.data["port"])},
                "export": self.data["export_name"],
                **({"tls-creds": TLS_CREDS} if self.psk else {}),
            }
        elif self.transport == "local":
            protocol = {"driver": "file", "filename": self.data["device_path"]}
        else:
            raise GuestError(f"QEMU cannot open a {self.transport!r} attachment (only nbd and local)")
        protocol["read-only"] = self.read_only
        return {"driver": "raw", "node-name": "volume", "read-only": self.read_only, "file": protocol}

    def device(self) -> str:
        options = ["virtio-blk-pci", "drive=volume"]
        if self.serial:
            options.append(f"serial={self.serial[:SERIAL_LENGTH]}")
        if self.shared:
            options.append("share-rw=on")
        return ",".join(options)


@dataclasses.dataclass(frozen=True)
class Machine:
    memory_mib: int = 256
    # Software emulation works everywhere; KVM only where /dev/kvm really works.
    accel: str = "tcg"
    timeout: float = 600.0


def _chardev_path(path: pathlib.Path) -> str:
    """QEMU option values escape a comma by doubling it."""
    return str(path).replace(",", ",,")


def tls_object(disk: Disk, tls_dir: pathlib.Path, option: str = "-object") -> list[str]:
    """QEMU's TLS-PSK client credentials for the disk's export, read from
    keys.psk in `tls_dir`; none for an export without TLS. qemu-img spells
    the option --object."""
    if disk.psk is None:
        return []
    creds = {"qom-type": "tls-creds-psk", "id": TLS_CREDS, "endpoint": "client", "dir": str(tls_dir),
             "username": disk.psk.identity}
    return [option, json.dumps(creds)]


def command_line(image: GuestImage, initrd: pathlib.Path, disk: Disk, console: pathlib.Path,
                 machine: Machine, tls_dir: pathlib.Path | None = None) -> list[str]:
    if disk.psk is not None and tls_dir is None:
        raise GuestError("the export requires TLS-PSK: QEMU needs a directory with its key")
    return [
        QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-accel", machine.accel, "-cpu", "host" if machine.accel == "kvm" else "max",
        "-m", str(machine.memory_mib), "-smp", "1",
        "-kernel", str(image.kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 quiet panic=-1",
        "-chardev", f"file,id=console,path={_chardev_path(console)}", "-serial", "chardev:console",
        "-chardev", "stdio,id=output,signal=off", "-serial", "chardev:output",
        *tls_object(disk, tls_dir), "-blockdev", json.dumps(disk.blockdev()), "-device", disk.device(),
    ]


def run_initrd(image: GuestImage, command: str, env: dict[str, str], run_dir: pathlib.Path) -> pathlib.Path:
    """The image's initramfs with /ember/command and /ember/env appended.
    The kernel unpacks concatenated archives, each starting 4-byte aligned."""
    tree = run_dir / "tree"
    (tree / "ember").mkdir(parents=True, exist_ok=True)
    (tree / "ember" / "command").write_text(command + "\n")
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    (tree / "ember" / "env").write_text(exports)
    base = image.initrd.read_bytes()
    initrd = run_dir / "initrd"
    initrd.write_bytes(base + b"\0" * (-len(base) % 4) + guest_image.cpio(tree))
    shutil.rmtree(tree)
    return initrd


def exit_status(console: pathlib.Path) -> int | None:
    """The command's exit status as the guest's init printed it, if it did."""
    try:
        found = EXIT_LINE.findall(console.read_bytes())
    except OSError:
        return None
    return int(found[-1]) if found else None


def _tail(path: pathlib.Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def credentials(disk: Disk) -> Iterator[pathlib.Path | None]:
    """A directory only this user may enter, with the export's key for
    QEMU's tls-creds-psk, for as long as the guest runs; None without TLS."""
    if disk.psk is None:
        yield None
        return
    with nbd_psk.private_file(disk.psk) as key_file:
        yield key_file.parent


def run(image: GuestImage, disk: Disk, command: str, run_dir: pathlib.Path, output: BinaryIO,
        machine: Machine = Machine(), env: dict[str, str] | None = None) -> int:
    """Boots the guest, streams the command's output to `output` as it comes
    and returns the command's exit status. The guest is stopped whatever
    happens, an interrupt included; GuestError if it never ran the command."""
    run_dir.mkdir(parents=True, exist_ok=True)
    console = run_dir / "console.log"
    console.unlink(missing_ok=True)
    initrd = run_initrd(image, command, {"EMBER_DISK": GUEST_DISK, **(env or {})}, run_dir)
    try:
        with credentials(disk) as tls_dir:
            returncode = _boot(command_line(image, initrd, disk, console, machine, tls_dir), run_dir, output,
                               machine.timeout)
    finally:
        initrd.unlink(missing_ok=True)
    status = exit_status(console)
    if status is None:
        problem = _tail(run_dir / "qemu.log") or _tail(console) or f"{QEMU} exited with {returncode}"
        raise GuestError(f"the guest stopped before its command finished: {problem}")
    return status


def _boot(argv: list[str], run_dir: pathlib.Path, output: BinaryIO, timeout: float) -> int | None:
    """Runs QEMU until the guest powers off (or `timeout`), copying its
    output; QEMU's exit status. QEMU is stopped whatever happens."""
    console = run_dir / "console.log"
    with open(run_dir / "qemu.log", "wb") as log:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        except FileNotFoundError:
            raise GuestError(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    deadline = time.monotonic() + timeout
    try:
        fd = process.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError(f"the guest did not finish within {timeout:g} s; console:\n{_tail(console)}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            output.write(chunk)
            output.flush()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _stop(process)
        process.stdout.close()
    return process.returncode
