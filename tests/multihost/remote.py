"""Running a test's calls on another host: an Agent process inside the host's
namespace takes pickled function calls over a pipe (pipes cross namespaces,
sockets don't) and runs them there, so its gRPC calls cross the bridge."""

from __future__ import annotations

import importlib
import pathlib
import pickle
import struct
import subprocess
import sys
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor

import grpc

from tests.harness import Client
from tests.multihost.network import Host

HEADER = struct.Struct("!I")
# Not `-m`: the agent's functions must be this module's, not __main__'s.
AGENT = "from tests.multihost.remote import main; main()"
REPO = pathlib.Path(__file__).resolve().parents[2]


def _send(stream, message) -> None:
    data = pickle.dumps(message)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream):
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    return pickle.loads(stream.read(HEADER.unpack(header)[0]))


class RemoteRpcError(grpc.RpcError):
    """A gRPC error raised on the agent's host, as the caller would have seen it."""

    def __init__(self, code: str, details: str):
        super().__init__(f"{code}: {details}")
        self._code, self._details = grpc.StatusCode[code], details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def __reduce__(self):
        return RemoteRpcError, (self._code.name, self._details)


class RemoteError(Exception):
    """Anything else an agent's function raised, with its traceback."""


class Agent:
    """`python -m tests.multihost.remote` on `host`; call() runs a module-level
    function there and returns what it returned (calls may overlap)."""

    def __init__(self, host: Host):
        self.host = host
        self.popen = subprocess.Popen(host.command([sys.executable, "-c", AGENT]),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"agent-{host.name}")
        self._reader.start()

    def _read(self) -> None:
        while (message := _receive(self.popen.stdout)) is not None:
            ident, ok, value = message
            with self._lock:
                future = self._pending.pop(ident)
            future.set_result(value) if ok else future.set_exception(value)
        with self._lock:
            for future in self._pending.values():
                future.set_exception(RemoteError(f"the agent on {self.host.name} exited"))
            self._pending.clear()

    def call(self, fn, *args, **kwargs):
        future: Future = Future()
        with self._lock:
            self._next += 1
            self._pending[self._next] = future
            _send(self.popen.stdin, (self._next, fn.__module__, fn.__qualname__, args, kwargs))
        return future.result()

    def client(self, gateway: str, token: str) -> "RemoteClient":
        return RemoteClient(self, gateway, token)

    def close(self) -> None:
        self.popen.stdin.close()
        self.popen.wait(10)
        self.popen.stdout.close()


class _Stub:
    """Stands for a stub of harness.Client: its attributes name methods."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, method: str) -> tuple[str, str]:
        return self.name, method


class RemoteClient(Client):
    """harness.Client whose calls leave from the agent's host."""

    def __init__(self, agent: Agent, gateway: str, token: str):
        self.agent, self.gateway, self.token = agent, gateway, token
        for stub in ("volumes", "operations", "scheduler", "types", "quotas", "snapshots", "backups"):
            setattr(self, stub, _Stub(stub))

    def call(self, method: tuple[str, str], request, timeout: float = 10):
        return self.agent.call(rpc, self.gateway, self.token, *method, request, timeout)

    def close(self) -> None:
        self.agent.call(forget, self.gateway, self.token)


_clients: dict[tuple[str, str], Client] = {}
_clients_lock = threading.Lock()


def rpc(gateway: str, token: str, stub: str, method: str, request, timeout: float):
    """On the agent: one call through a channel kept per gateway and token."""
    with _clients_lock:
        client = _clients.get((gateway, token)) or _clients.setdefault((gateway, token), Client(gateway, token))
    try:
        return client.call(getattr(getattr(client, stub), method), request, timeout)
    except grpc.RpcError as error:
        raise RemoteRpcError(error.code().name, error.details() or "")


def forget(gateway: str, token: str) -> None:
    with _clients_lock:
        client = _clients.pop((gateway, token), None)
    if client:
        client.close()


def _run(ident: int, module: str, qualname: str, args, kwargs, out, lock: threading.Lock) -> None:
    try:
        fn = importlib.import_module(module)
        for part in qualname.split("."):
            fn = getattr(fn, part)
        reply = (ident, True, fn(*args, **kwargs))
    except Exception as exc:
        if not isinstance(exc, RemoteRpcError):
            exc = RemoteError(traceback.format_exc())
        reply = (ident, False, exc)
    with lock:
        _send(out, reply)


def main() -> None:
    lock = threading.Lock()
    with ThreadPoolExecutor(64) as pool:
        while (message := _receive(sys.stdin.buffer)) is not None:
            pool.submit(_run, *message, sys.stdout.buffer, lock)
