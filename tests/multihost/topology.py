"""The reference topology of docs/deployment.md on network namespaces: two
control hosts, three NATS hosts, a database host, two storage hosts in
zones east and west, two backup hosts sharing a repository, one compute host.
Each service runs as `ember serve SERVICE --config FILE` inside its host."""

from __future__ import annotations

import json
import pathlib
import secrets
import shutil
import signal
import socket

from ember import auth, files, launcher, nats_access, pki
from tests.harness import FAST_SETTINGS
from tests.multihost.network import SUBNET, Host, Network
from tests.multihost.remote import Agent
from tests.postgres import Postgres

# host -> last octet of its address on the bridge.
HOSTS = {
    "ctl-1": 11, "ctl-2": 12, "nats-1": 21, "nats-2": 22, "nats-3": 23, "db-1": 31,
    "store-1": 41, "store-2": 42, "backup-1": 51, "backup-2": 52, "compute-1": 61,
}
# Every host has ports of its own: the same well-known ones on each.
PORTS = {"gateway": 8776, "scheduler": 8780, "volume": 8781, "backup": 8782}
NATS_PORT, NATS_CLUSTER_PORT, POSTGRES_PORT = 4222, 6222, 5432
CONTROL = ("ctl-1", "ctl-2")
NATS = ("nats-1", "nats-2", "nats-3")
ZONES = {"store-1": "east", "store-2": "west"}
BACKUP = ("backup-1", "backup-2")
STORE_CAPACITY_GB = 200
# Services on each host, in start order.
SERVICES = {
    **{host: ("gateway", "scheduler") for host in CONTROL},
    **{host: ("volume",) for host in ZONES},
    **{host: ("backup",) for host in BACKUP},
}
# Hosts go down in these tests on purpose: they must be noticed within seconds.
MULTIHOST_SETTINGS = {**FAST_SETTINGS, "EMBER_SERVICE_DOWN_AFTER": "5"}


def nats_url() -> str:
    return ",".join(f"nats://{SUBNET.format(HOSTS[h])}:{NATS_PORT}" for h in NATS)


def toml_value(value) -> str:
    # JSON's strings, numbers and booleans are TOML's too.
    return json.dumps(value)


def host_config(host: Host, database_url: str, secret: str, repository: pathlib.Path, tls: pki.TlsFiles,
                nats_users: dict[str, dict[str, str]]) -> str:
    """The config file of `host`: settings every service on it shares, then
    a table for each service it runs, with its own NATS user (`nats_users`
    by service)."""
    shared = {
        "tls_ca": str(tls.ca),
        "tls_cert": str(tls.cert),
        "tls_key": str(tls.key),
        "host": host.name,
        "data_dir": str(host.data_dir),
        "nats_url": nats_url(),
        "nats_replicas": 3,
        "database_url": database_url,
        "auth_secret": secret,
        "metrics_listen": f"{host.address}:0",
    }
    tables: dict[str, dict] = {}
    for service in SERVICES.get(host.name, ()):
        table = tables.setdefault(service, {"listen": f"{host.address}:{PORTS[service]}", **nats_users[service]})
        if service == "volume":
            table.update(availability_zone=ZONES[host.name], nbd_listen=host.address,
                         pool_capacity_gb=STORE_CAPACITY_GB)
        if service == "backup":
            table["backup_repository"] = str(repository)
    lines = [f"{key} = {toml_value(value)}" for key, value in shared.items()]
    for service, table in tables.items():
        lines += ["", f"[{service}]", *(f"{key} = {toml_value(value)}" for key, value in table.items())]
    return "\n".join(lines) + "\n"


class Topology:
    """The hosts, their processes and the database; `close()` undoes it all."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.network = Network(root)
        self.secret = secrets.token_urlsafe(32)
        self.repository = root / "repository"
        self.ca_dir = root / "pki"
        self.nats_access = nats_access.Access(root / "nats-users")
        self.processes: dict[str, launcher.Process] = {}
        self.nats_nodes: dict[str, launcher.Process] = {}
        self.postgres: Postgres | None = None
        self.database_url = ""
        # Every project a test used (tests.multihost.checks.client adds them).
        self.projects: set[str] = set()

    def __getitem__(self, name: str) -> Host:
        return self.network[name]

    @property
    def gateways(self) -> list[str]:
        return [f"{self[h].address}:{PORTS['gateway']}" for h in CONTROL]

    def token(self, project: str = "demo", admin: bool = False) -> str:
        identity = auth.Identity(project, "tester", (auth.ADMIN_ROLE,) if admin else ())
        return auth.create_token(identity, self.secret.encode(), 3600)

    def start(self) -> "Topology":
        for name, number in HOSTS.items():
            self.network.add(name, number)
        self.repository.mkdir()
        # The CA's key stays here, off every host: hosts get their certificate and the CA's.
        pki.init_ca(self.ca_dir)
        for host, services in SERVICES.items():
            for service in services:
                self.nats_access.add(nats_access.User(service, host))
        for name in NATS:
            self.start_nats(name)
        self.network["ctl-1"].inside(lambda: launcher.wait_for_jetstream(nats_url().split(","),
                                                                         self.nats_options("ctl-1")))
        self.start_database()
        for host, services in SERVICES.items():
            path = self[host].data_dir / "ember.toml"
            users = {service: self._nats_user(host, service) for service in services}
            config = host_config(self[host], self.database_url, self.secret, self.repository, self.tls(host), users)
            files.write_private(path, config)
            for service in services:
                self.start_service(host, service)
        return self

    def tls(self, host: str) -> pki.TlsFiles:
        """`host`'s certificate (issued the first time) and the CA's, in its data directory."""
        directory = self[host].data_dir / "pki"
        files = pki.TlsFiles(directory / pki.CA_CERT, directory / f"{host}.pem", directory / f"{host}.key")
        if not files.cert.exists():
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.ca_dir / pki.CA_CERT, files.ca)
            pki.issue(self.ca_dir, directory, host, [self[host].address])
        return files

    def _nats_user(self, host: str, service: str) -> dict[str, str]:
        """The NATS user settings of `service` on `host`, its password file copied onto the host."""
        settings = self.nats_access.settings(nats_access.User(service, host))
        copy = self[host].data_dir / "nats" / pathlib.Path(settings["nats_password_file"]).name
        files.write_private(copy, pathlib.Path(settings["nats_password_file"]).read_text())
        return {**settings, "nats_password_file": str(copy)}

    def nats_options(self, host: str) -> dict:
        """nats.connect() keywords of the admin, from inside `host` with its certificate."""
        return self.nats_access.client_options(self.nats_access.users[nats_access.ADMIN], self.tls(host))

    def start_nats(self, name: str) -> launcher.Process:
        """(Re)starts the NATS node of host `name` on its store."""
        host = self[name]
        index = NATS.index(name)
        store = host.data_dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        routes = [f"{self[h].address}:{NATS_CLUSTER_PORT}" for h in NATS]
        conf = host.data_dir / "nats.conf"
        tls = self.tls(name)
        self.nats_access.write(host.data_dir / "nats-access.conf", tls)
        files.write_private(conf, launcher.nats_node_conf(
            index, f"{host.address}:{NATS_PORT}", f"{host.address}:{NATS_CLUSTER_PORT}", routes, store,
            "nats-access.conf", self.nats_access.route(tls)))

        def reachable() -> None:
            host.inside(lambda: socket.create_connection((host.address, NATS_PORT), timeout=0.5).close())

        node = launcher.launch_nats(name, conf, NATS_PORT, host.data_dir / "logs" / "nats.log",
                                    prefix=tuple(host.command([])), reachable=reachable)
        self.nats_nodes[name] = node
        return node

    def start_database(self) -> None:
        db = self["db-1"]
        self.postgres = Postgres(tuple(db.command([])), db.address, POSTGRES_PORT,
                                 clients=f"{SUBNET.format(0)}/24").start()
        self.database_url = self.postgres.url(db.data_dir)

    def start_service(self, host: str, service: str) -> launcher.Process:
        """`ember serve SERVICE --config` on `host`, as its operator would run it."""
        name = f"{service}@{host}"
        proc = launcher.start_service(
            "cli", MULTIHOST_SETTINGS, self[host].data_dir / "logs", name=name,
            args=["serve", service, "--config", str(self[host].data_dir / "ember.toml")],
            prefix=tuple(self[host].command([])),
        )
        self.processes[name] = proc
        return proc

    def process(self, host: str, service: str) -> launcher.Process:
        return self.processes[f"{service}@{host}"]

    def agent(self, host: str = "compute-1") -> Agent:
        """A process on `host` that runs the test's gRPC calls from there."""
        return Agent(self[host])

    def logs(self) -> str:
        every = [*self.processes.values(), *self.nats_nodes.values()]
        return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in every)

    def close(self) -> None:
        try:
            for proc in reversed(list(self.processes.values())):
                if proc.running:
                    proc.popen.send_signal(signal.SIGTERM)
            for proc in reversed(list(self.processes.values())):
                proc.stop(timeout=10)
            for node in self.nats_nodes.values():
                node.stop(timeout=5)
            if self.postgres:
                self.postgres.stop()
        finally:
            self.network.close()
