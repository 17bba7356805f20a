"""The NBD target: one nbdkit daemon (its file plugin) per attachment,
serving the volume file under the attachment's id as export name, refusing
writes for "ro". nbdkit rather than qemu-nbd: measured here, it serves
sequential reads over one connection about 2.5 times as fast.

With TLS on (the default), each export takes only TLS-PSK connections with
a secret of its own, made when the export is made: <attachment id>.psk is
the file nbdkit reads it from, and it goes with the export.

The daemons are not children of the volume service: an instance's disk
stays reachable while the control plane restarts. Each export is recorded
in <state dir>/<attachment id>.json (address, port, secret), so that a
restarted service finds its exports, brings back those that died with the
same port and secret, and stops those whose attachment is gone. The state
directory and its files are this user's only."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import select
import signal
import shutil
import socket
import subprocess

import tenacity

from ember import addresses, failpoints, files, nbd_psk, retry

START_TIMEOUT = 30.0
PID_WAIT = retry.Backoff(first=0.002, cap=0.05)
# The pid file comes within milliseconds; longer would only delay the report of a daemon that died.
PID_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0


class ExportError(RuntimeError):
    """nbdkit could not serve the volume; str() carries its message."""


class _NoPid(Exception):
    """The daemon has not written its pid file yet."""


@dataclasses.dataclass
class NbdExport:
    attachment_id: str
    path: str
    address: str
    port: int
    read_only: bool
    # What clients dial, when not the bound address (a wildcard, or behind NAT).
    advertise: str = ""
    # The TLS-PSK clients must present (hex); empty for a plaintext export
    # (TLS off, or a record written before there was TLS).
    psk_key: str = dataclasses.field(default="", repr=False)

    @property
    def psk(self) -> nbd_psk.Psk | None:
        return nbd_psk.Psk(self.attachment_id, self.psk_key) if self.psk_key else None

    def data(self) -> dict[str, str]:
        host = self.advertise or self.address
        scheme = "nbds" if self.psk else "nbd"
        return {
            "uri": f"{scheme}://{addresses.join(host, self.port)}/{self.attachment_id}",
            "host": host,
            "port": str(self.port),
            "export_name": self.attachment_id,
            **(self.psk.data() if self.psk else {}),
        }


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class NbdTarget:
    name = "nbd"

    def __init__(self, state_dir: pathlib.Path, address: str, advertise: str = "", binary: str = "nbdkit",
                 tls: bool = True):
        self.state_dir, self.address, self.advertise, self.tls = state_dir, address, advertise, tls
        self.binary = shutil.which(binary) or binary
        state_dir.mkdir(parents=True, exist_ok=True)
        # The records and PSK files hold the exports' secrets.
        state_dir.chmod(0o700)

    def _record_path(self, attachment_id: str) -> pathlib.Path:
        return self.state_dir / f"{attachment_id}.json"

    def _pid_path(self, attachment_id: str) -> pathlib.Path:
        return self.state_dir / f"{attachment_id}.pid"

    def _psk_path(self, attachment_id: str) -> pathlib.Path:
        return self.state_dir / f"{attachment_id}.psk"

    def _load(self, attachment_id: str) -> NbdExport | None:
        try:
            return NbdExport(**json.loads(self._record_path(attachment_id).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _pid(self, attachment_id: str) -> int | None:
        """The daemon's pid, if it runs and serves this export."""
        try:
            pid = int(self._pid_path(attachment_id).read_text().strip())
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if f"--exportname={attachment_id}".encode() in cmdline else None

    def running(self, attachment_id: str) -> bool:
        return self._pid(attachment_id) is not None

    def exported(self) -> set[str]:
        """Attachment ids with an export record, running or not."""
        return {p.stem for p in self.state_dir.glob("*.json")}

    def export(self, attachment_id: str, path: str, read_only: bool, port: int = 0) -> dict[str, str]:
        """Idempotent: a running export is kept; a recorded one comes back on
        its old port when it can and with its old secret, so a compute host's
        connection info stays valid. A new export gets a new secret."""
        failpoints.hit("volume.nbd.export")
        current = self._load(attachment_id)
        if current and self._pid(attachment_id):
            return current.data()
        port = port or (current.port if current else 0)
        # What comes back follows the nbd_tls setting: a record made with TLS
        # off (or before there was TLS) comes back with a new secret.
        key = ""
        if self.tls:
            key = current.psk_key if current and current.psk_key else nbd_psk.Psk.new(attachment_id).key
        last_error = ""
        for candidate in [port] * bool(port) + [_free_port(self.address) for _ in range(3)]:
            export = NbdExport(attachment_id, path, self.address, candidate, read_only, self.advertise, key)
            try:
                self._start(export)
            except ExportError as exc:
                last_error = str(exc)
                continue
            self._record(export)
            return export.data()
        # A record brings its secret back on the next try; without one it is nobody's.
        self._psk_path(attachment_id).unlink(missing_ok=True)
        raise ExportError(f"nbdkit could not serve {path}: {last_error}")

    def _record(self, export: NbdExport) -> None:
        """Private, as it holds the secret, and swapped in whole."""
        files.write_private(self._record_path(export.attachment_id), json.dumps(dataclasses.asdict(export)))

    def _start(self, export: NbdExport) -> None:
        log = self.state_dir / f"{export.attachment_id}.log"
        tls, env = [], {}
        if export.psk:
            # The key goes in a file: a command line is readable by every user.
            nbd_psk.write(self._psk_path(export.attachment_id), export.psk)
            tls = ["--tls=require", f"--tls-psk={self._psk_path(export.attachment_id)}"]
            env = nbd_psk.server_env(self.state_dir)
        command = [
            self.binary, f"--ipaddr={export.address}", f"--port={export.port}",
            f"--exportname={export.attachment_id}", f"--pidfile={self._pid_path(export.attachment_id)}",
            "--log=stderr", *tls, *(["--readonly"] if export.read_only else []), "file", f"file={export.path}",
            # Volumes are mostly read and written in long runs (images, backups, copies).
            "fadvise=sequential",
        ]
        # nbdkit goes to the background once it listens; its output goes to a
        # file, not a pipe the daemon would hold open.
        with open(log, "ab") as out:
            try:
                done = subprocess.run(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT,
                                      env={**os.environ, **env})
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ExportError(str(exc))
        if done.returncode != 0:
            lines = log.read_text(errors="replace").strip().splitlines()
            raise ExportError(lines[-1] if lines else f"exit status {done.returncode}")
        # The daemon writes its pid file after the foreground process has
        # exited: until then the export would look dead (and be started twice,
        # or outlive its unexport).
        waiting = retry.policy(f"pid file of export {export.attachment_id}", _NoPid, PID_WAIT, PID_TIMEOUT,
                               level=logging.DEBUG)
        try:
            tenacity.Retrying(**waiting)(self._started, export.attachment_id)
        except _NoPid:
            raise ExportError("nbdkit went to the background but its daemon does not run")

    def _started(self, attachment_id: str) -> None:
        if self._pid(attachment_id) is None:
            raise _NoPid(attachment_id)

    def unexport(self, attachment_id: str) -> None:
        """Stops the daemon (its clients are cut off) and forgets the export,
        its secret included: that secret opens nothing any more."""
        pid = self._pid(attachment_id)
        if pid:
            _stop(pid)
        for suffix in (".json", ".psk", ".pid", ".log"):
            self.state_dir.joinpath(attachment_id + suffix).unlink(missing_ok=True)


def _stop(pid: int) -> None:
    """SIGTERM, then SIGKILL if the daemon has not exited within the timeout;
    waiting on a pidfd, as the daemon is not our child."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        if not select.select([fd], [], [], STOP_TIMEOUT)[0]:
            os.kill(pid, signal.SIGKILL)
            select.select([fd], [], [], STOP_TIMEOUT)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)
