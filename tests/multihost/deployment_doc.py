"""docs/deployment.md read as data (its machines and ports tables, its
marked config blocks) and its three machines run on network namespaces."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.parse

from ember import addresses, config, config_file, launcher
from tests.multihost.network import Host, Network
from tests.postgres import Postgres

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deployment.md"
# `<!-- kind: name -->` on the line before a fenced block.
BLOCK = re.compile(r"^<!-- ([\w-]+): ([\w.-]+) -->\n```\w*\n(.*?)^```", re.M | re.S)
HBA = re.compile(r"^host\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+$", re.M)


@dataclasses.dataclass
class Machine:
    name: str
    address: str
    services: list[str]
    zone: str


def blocks(kind: str) -> dict[str, str]:
    """The doc's fenced blocks marked `kind`, by the name in their marker."""
    return {name: text for marked, name, text in BLOCK.findall(DOC.read_text()) if marked == kind}


def configs() -> dict[str, dict]:
    """Each machine's config file as tomllib reads it, by machine."""
    return {name.removesuffix(".toml"): tomllib.loads(text) for name, text in blocks("config").items()}


def tables(document: dict) -> dict[str, dict]:
    return {key: value for key, value in document.items() if isinstance(value, dict)}


def shared(document: dict) -> dict:
    return {key: value for key, value in document.items() if not isinstance(value, dict)}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table(first_column: str) -> list[dict[str, str]]:
    """The rows of the doc's table whose first column is `first_column`."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if _cells(line)[0] == first_column)
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(line))))
    return rows


def machines() -> dict[str, Machine]:
    """The machines table: each machine's address, Ember services and zone."""
    found = {}
    for row in table("Machine"):
        name, runs = row["Machine"].strip("`"), row["Runs"]
        services = [word for word in re.findall(r"`([\w-]+)`", runs) if word in config_file.SERVICES]
        zone = re.search(r"zone `([\w-]+)`", runs)
        found[name] = Machine(name, row["Address"], services, zone.group(1) if zone else "")
    return found


def settings_of(path: pathlib.Path, service: str) -> config.Settings:
    """What `ember serve SERVICE --config path` starts with (EMBER_* variables of this process included)."""
    return config.parse(["--config", str(path)], service=service)


def nats_listen() -> tuple[str, str]:
    """(machine, host:port) of the doc's nats-server."""
    ((machine, conf),) = blocks("nats-server").items()
    return machine, re.search(r'^listen: "([^"]+)"', conf, re.M).group(1)


def database() -> urllib.parse.SplitResult:
    (url,) = {document["database_url"] for document in configs().values()}
    return urllib.parse.urlsplit(url)


def hba_network() -> tuple[str, str, ipaddress.IPv4Network]:
    """(database, user, network) of the doc's pg_hba.conf line."""
    ((name, user, network_),) = HBA.findall(DOC.read_text())
    return name, user, ipaddress.ip_network(network_)


class Deployment:
    """The doc's machines as network namespaces at the doc's addresses,
    running what it says from its files. What must differ in a test comes
    from EMBER_* variables, never from edits to the files: the data
    directory, the backup repository and the drain setting. PostgreSQL
    trusts the doc's network, so the password in its URL goes unchecked."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.machines = machines()
        self.network = Network(root)
        self.secret = secrets.token_urlsafe(32)
        self.repository = root / "ember-backups"
        self.processes: dict[str, launcher.Process] = {}
        self.nats: launcher.Process | None = None
        self.postgres: Postgres | None = None

    def __getitem__(self, name: str) -> Host:
        return self.network[name]

    def data_dir(self, name: str) -> pathlib.Path:
        return self[name].data_dir / "var-lib-ember"

    def config_path(self, name: str) -> pathlib.Path:
        return self[name].data_dir / "ember.toml"

    def start(self) -> "Deployment":
        for number, machine in enumerate(self.machines.values(), 1):
            self.network.add(machine.name, number, machine.address)
            # The doc's way to share the secret: the same auth.key, mode 0600, on every machine.
            self.data_dir(machine.name).mkdir()
            key = self.data_dir(machine.name) / "auth.key"
            key.write_text(self.secret)
            key.chmod(0o600)
            self.config_path(machine.name).write_text(blocks("config")[f"{machine.name}.toml"])
            self.config_path(machine.name).chmod(0o600)
        self.repository.mkdir()
        self.start_nats()
        self.start_database()
        for machine in self.machines.values():
            for service in machine.services:
                self.start_service(machine.name, service)
        return self

    def start_nats(self) -> None:
        name, listen = nats_listen()
        host, store = self[name], self[name].data_dir / "nats"
        conf, replaced = re.subn(r'store_dir: "[^"]*"', f"store_dir: {json.dumps(str(store))}",
                                 blocks("nats-server")[name])
        assert replaced == 1
        (host.data_dir / "nats-server.conf").write_text(conf)
        address, port = addresses.split(listen)

        def reachable() -> None:
            host.inside(lambda: socket.create_connection((address, int(port)), timeout=0.5).close())

        self.nats = launcher.launch_nats("nats-server", host.data_dir / "nats-server.conf", int(port),
                                         host.data_dir / "logs" / "nats-server.log",
                                         prefix=tuple(host.command([])), reachable=reachable)
        host.inside(lambda: launcher.wait_for_jetstream([f"nats://{listen}"]))

    def start_database(self) -> None:
        """PostgreSQL where the URL says, with the role and database the doc makes."""
        url = database()
        (machine,) = [m.name for m in self.machines.values() if m.address == url.hostname]
        name, user, admitted = hba_network()
        self.postgres = Postgres(tuple(self[machine].command([])), url.hostname, url.port,
                                 clients=str(admitted)).start()
        server = ("-h", url.hostname, "-p", str(url.port), "-U", "postgres")
        self.postgres._run(str(self.postgres.bin / "createuser"), *server, user)
        self.postgres._run(str(self.postgres.bin / "createdb"), *server, "--owner", user, name)

    def overrides(self, name: str) -> dict[str, str]:
        """Where the machine's paths are in this test."""
        document = configs()[name]
        named = {key for table in (document, *tables(document).values()) for key in table}
        env = {"EMBER_DATA_DIR": str(self.data_dir(name))}
        if "backup_repository" in named:
            env["EMBER_BACKUP_REPOSITORY"] = str(self.repository)
        return env

    def start_service(self, name: str, service: str, **extra: str) -> launcher.Process:
        """`ember serve SERVICE --config FILE` on the machine, as the doc runs it."""
        proc = launcher.start_service(
            "cli", {**self.overrides(name), **extra}, self[name].data_dir / "logs", name=f"{service}@{name}",
            args=["serve", service, "--config", str(self.config_path(name))], prefix=tuple(self[name].command([])),
        )
        self.processes[f"{service}@{name}"] = proc
        return proc

    def ember(self, name: str, *argv: str, **env: str) -> subprocess.CompletedProcess:
        """The `ember` command on the machine."""
        return self[name].run([sys.executable, "-m", "cli", *argv], capture_output=True, text=True, timeout=60,
                              cwd=REPO, env={**os.environ, **env})

    def token(self, project: str, admin: bool = False) -> str:
        """As the doc makes one: `ember token create` with the data directory's auth.key."""
        control = self.gateway_machine()
        made = self.ember(control, "token", "create", "--project", project, *(["--admin"] if admin else []),
                          "--data-dir", str(self.data_dir(control)))
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    def gateway_machine(self) -> str:
        (name,) = [m.name for m in self.machines.values() if "gateway" in m.services]
        return name

    @property
    def gateway(self) -> str:
        """EMBER_URL as the doc gives it: the gateway's advertised address."""
        name = self.gateway_machine()
        settings = settings_of(self.config_path(name), "gateway")
        return addresses.advertised("advertise", settings.listen, settings.advertise, settings.nats_url)

    def logs(self) -> str:
        every = [*self.processes.values(), *([self.nats] if self.nats else [])]
        return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in every)

    def close(self) -> None:
        try:
            for proc in self.processes.values():
                if proc.running:
                    proc.popen.send_signal(signal.SIGTERM)
            for proc in self.processes.values():
                proc.stop(timeout=15)
            if self.nats:
                self.nats.stop(timeout=5)
            if self.postgres:
                self.postgres.stop()
        finally:
            self.network.close()
