"""docs/deployment.md read as data (its tables, its marked commands and
config blocks) and its three machines set up and run on network namespaces."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.parse

from ember import addresses, config, config_file, files, launcher, nats_access
from tests.multihost.network import Host, Network
from tests.postgres import Postgres

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deployment.md"
# `<!-- kind: name -->` on the line before a fenced block.
BLOCK = re.compile(r"^<!-- ([\w-]+): ([\w.-]+) -->\n```\w*\n(.*?)^```", re.M | re.S)
HBA = re.compile(r"^host\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+$", re.M)
# An absolute path in a setting's value: all of it, or a libpq parameter's (`?passfile=/...`).
PATH_IN_VALUE = re.compile(r"(?:^|(?<==))(/[^&\s]*)")
CONFIG = "/etc/ember/ember.toml"
NATS_CONF = "/etc/nats/nats-server.conf"
# What the doc's passfile holds in place of the password.
PLACEHOLDER = "CHANGE-ME"


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


def commands() -> list[list[str]]:
    """The doc's workstation commands, each as its argv."""
    text = blocks("commands")["workstation"].replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def run_commands(directory: pathlib.Path, where=lambda path: path) -> list[str]:
    """Runs the doc's workstation commands in `directory`, each absolute path
    they name passed through `where`; what each printed."""
    printed = []
    for argv in commands():
        assert argv[0] == "ember", argv
        argv = [where(arg) if arg.startswith("/") else arg for arg in argv[1:]]
        done = subprocess.run([sys.executable, "-m", "cli", *argv], capture_output=True, text=True, timeout=60,
                              cwd=directory, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, (argv, done.stderr)
        printed.append(done.stdout)
    return printed


def nats_dir() -> str:
    """The --dir of the doc's `ember nats access`, on the workstation."""
    (argv,) = [argv for argv in commands() if argv[1:3] == ["nats", "access"]]
    return argv[argv.index("--dir") + 1]


def delivered(machine: str) -> dict[str, str]:
    """Path on `machine` -> the workstation file the doc's copy table puts there."""
    found = {}
    for row in table("File"):
        if machine in {name.strip() for name in row["On"].split(",")}:
            to = row["To"].strip("`")
            for source in re.findall(r"`([^`]+)`", row["File"]):
                found[to + pathlib.PurePath(source).name if to.endswith("/") else to] = source
    return found


def passfile() -> tuple[str, str]:
    """(path, text) of the password file the database URL names, as the doc gives it."""
    (path,) = urllib.parse.parse_qs(database().query)["passfile"]
    return path, blocks("passfile")[pathlib.PurePath(path).name]


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
    """The doc's machines as network namespaces at the doc's addresses, set
    up and running as it says from its files. A path on a machine is under
    the machine's directory in the test (/etc/ember/ca.pem under
    <root>/<machine>/etc/ember/ca.pem): the doc's commands are given the
    moved paths, and the services get them, and the drain setting, from
    EMBER_* variables, never from edits to the files."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.machines = machines()
        self.network = Network(root)
        self.secret = secrets.token_urlsafe(32)
        self.database_password = secrets.token_urlsafe(16)
        self.workstation = root / "workstation"
        self.processes: dict[str, launcher.Process] = {}
        self.nats: launcher.Process | None = None
        self.postgres: Postgres | None = None

    def __getitem__(self, name: str) -> Host:
        return self.network[name]

    def local(self, name: str, path: str) -> pathlib.Path:
        """Where the machine's `path` is in this test."""
        return self[name].data_dir / path.lstrip("/")

    def data_dir(self, name: str) -> pathlib.Path:
        return self.local(name, configs()[name]["data_dir"])

    def config_path(self, name: str) -> pathlib.Path:
        return self.local(name, CONFIG)

    @property
    def repository(self) -> pathlib.Path:
        (name,) = [m.name for m in self.machines.values() if "backup" in m.services]
        return self.local(name, configs()[name]["backup"]["backup_repository"])

    def start(self) -> "Deployment":
        for number, machine in enumerate(self.machines.values(), 1):
            self.network.add(machine.name, number, machine.address)
        self.workstation.mkdir()
        # What nats-server reads is what the commands name: the paths on its machine.
        run_commands(self.workstation, lambda path: str(self.local(nats_listen()[0], path)))
        for machine in self.machines.values():
            self.install(machine.name)
        self.repository.mkdir(parents=True)
        self.start_nats()
        self.start_database()
        for machine in self.machines.values():
            for service in machine.services:
                self.start_service(machine.name, service)
        return self

    def install(self, name: str) -> None:
        """The machine's files as the doc puts them there: the copy table's,
        auth.key and the passfile (mode 0600) and its config file."""
        for path, source in delivered(name).items():
            self.local(name, path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.workstation / source, self.local(name, path))
        path, text = passfile()
        for file, content in ((self.data_dir(name) / "auth.key", self.secret),
                              (self.local(name, path), text.replace(PLACEHOLDER, self.database_password))):
            file.parent.mkdir(parents=True, exist_ok=True)
            files.write_private(file, content)
        self.config_path(name).write_text(blocks("config")[f"{name}.toml"])

    def nats_options(self, name: str) -> dict:
        """nats.connect() keywords of the admin, as an operator's tool on `name` would connect."""
        document = configs()[name]
        tls = {key: str(self.local(name, document[key])) for key in ("tls_ca", "tls_cert", "tls_key")}
        password = self.workstation / nats_dir() / f"{nats_access.ADMIN}.password"
        return nats_access.client_options(config.Settings(**tls, nats_user=nats_access.ADMIN,
                                                          nats_password_file=str(password)))

    def start_nats(self) -> None:
        name, listen = nats_listen()
        host, conf = self[name], self.local(name, NATS_CONF)
        text, replaced = re.subn(r'store_dir: "([^"]*)"',
                                 lambda found: f"store_dir: {json.dumps(str(self.local(name, found.group(1))))}",
                                 blocks("nats-server")[name])
        assert replaced == 1
        conf.write_text(text)
        address, port = addresses.split(listen)

        def reachable() -> None:
            host.inside(lambda: socket.create_connection((address, int(port)), timeout=0.5).close())

        self.nats = launcher.launch_nats("nats-server", conf, int(port), host.data_dir / "logs" / "nats-server.log",
                                         prefix=tuple(host.command([])), reachable=reachable)
        host.inside(lambda: launcher.wait_for_jetstream([f"nats://{listen}"], self.nats_options(name)))

    def start_database(self) -> None:
        """PostgreSQL where the URL says, admitting the doc's network with the
        password, and the database the doc makes, owned by its role."""
        url = database()
        (machine,) = [m.name for m in self.machines.values() if m.address == url.hostname]
        name, user, admitted = hba_network()
        # The role, made with the password as `createuser --pwprompt` makes it.
        self.postgres = Postgres(tuple(self[machine].command([])), url.hostname, url.port, clients=str(admitted),
                                 password=self.database_password).start()
        assert self.postgres.user == user
        # The superuser has no password: over the local socket, as `sudo -u postgres createdb` connects.
        self.postgres._run(str(self.postgres.bin / "createdb"), "-h", str(self.postgres.root), "-p", str(url.port),
                           "-U", "postgres", "--owner", user, name)

    def overrides(self, name: str, service: str) -> dict[str, str]:
        """The settings of `service` on the machine that name paths, with the paths moved as in this test."""
        document = configs()[name]
        env = {}
        for key, value in {**shared(document), **tables(document).get(service, {})}.items():
            if isinstance(value, str) and PATH_IN_VALUE.search(value):
                env[f"EMBER_{key.upper()}"] = PATH_IN_VALUE.sub(lambda found: str(self.local(name, found.group(1))),
                                                                value)
        return env

    def start_service(self, name: str, service: str, **extra: str) -> launcher.Process:
        """`ember serve SERVICE --config FILE` on the machine, as the doc runs it."""
        proc = launcher.start_service(
            "cli", {**self.overrides(name, service), **extra}, self[name].data_dir / "logs", name=f"{service}@{name}",
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
